package kvapi

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/vault"
)

// contactsBody is Key Vault's Contacts, in and out.
type contactsBody struct {
	ID       string          `json:"id,omitempty"`
	Contacts []vault.Contact `json:"contacts"`
}

// parseContacts decodes the body of PUT /certificates/contacts.
func parseContacts(body []byte) ([]vault.Contact, error) {
	var b contactsBody
	if err := decodeJSON(body, &b); err != nil {
		return nil, err
	}
	if b.Contacts == nil {
		return nil, badParameter("The body has no contacts member: send {\"contacts\":[{\"email\":…}]}, or DELETE /certificates/contacts to remove them.")
	}
	return b.Contacts, nil
}

// contacts serves /certificates/contacts.
func (rq *request) contacts(rest []string) {
	if len(rest) > 1 || len(rest) == 1 && rest[0] != "" {
		rq.notFound()
		return
	}
	c, v := rq.caller, rq.t.vault
	ctx := rq.r.Context()
	s := rq.h.cfg.Vault
	rq.route(rq.r.Method + " /certificates/contacts")
	if !rq.allow(http.MethodGet, http.MethodPut, http.MethodDelete) {
		return
	}
	var (
		cs  []vault.Contact
		err error
	)
	switch rq.r.Method {
	case http.MethodGet:
		cs, err = s.GetContacts(ctx, c, v)
	case http.MethodDelete:
		cs, err = s.DeleteContacts(ctx, c, v)
	default:
		in, ok := body(rq, parseContacts)
		if !ok {
			return
		}
		cs, err = s.SetContacts(ctx, c, v, in)
	}
	if err != nil {
		rq.fail(err)
		return
	}
	rq.reply(http.StatusOK, contactsBody{ID: rq.t.id + "/certificates/contacts", Contacts: cs})
}
