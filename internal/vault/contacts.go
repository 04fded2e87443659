package vault

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/portcullis/portcullis/internal/store"
)

// Contact is one certificate contact of a vault (Key Vault's Contact):
// whom lifetime notifications (EmailContacts) concern.
type Contact struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// contactsSetting names the one contacts setting of a vault.
const contactsSetting = "contacts"

// MaxContacts bounds a vault's certificate contacts.
const MaxContacts = 64

func validateContacts(cs []Contact) error {
	if len(cs) == 0 {
		return badRequest("contacts is empty: give at least one contact with an email, or delete the contacts (DELETE /certificates/contacts)")
	}
	if len(cs) > MaxContacts {
		return badRequest("%d contacts: at most %d are kept", len(cs), MaxContacts)
	}
	for i, c := range cs {
		if len(c.Email) > 254 || !strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " ,;<>\r\n") {
			return badRequest("contacts[%d].email %q is not an e-mail address", i, clipText(c.Email, 64))
		}
		if len(c.Name) > maxIssuerFieldSize || len(c.Phone) > maxIssuerFieldSize {
			return badRequest("contacts[%d]: name and phone are limited to %d bytes", i, maxIssuerFieldSize)
		}
	}
	return nil
}

func contactsOf(st Setting) ([]Contact, error) {
	var cs []Contact
	if err := json.Unmarshal(st.Body, &cs); err != nil {
		return nil, internal(err, "decode certificate contacts")
	}
	return cs, nil
}

func contactsNotFound() *Error {
	return &Error{Kind: KindNotFound, Code: CodeNotFound, Message: "No certificate contacts are set in this vault: set them with SetContacts (PUT /certificates/contacts)."}
}

// onContacts runs fn for a contacts operation authorised at vault level.
func onContacts(s *Service, ctx context.Context, c Caller, vault string, perm Permission, fn func(v Vault) ([]Contact, error)) (out []Contact, err error) {
	o := s.begin(ctx, c, vault, "", contactsSetting, "", perm)
	defer o.end(&err)
	v, err := o.authorize("", false)
	if err != nil {
		return nil, err
	}
	return fn(v)
}

// SetContacts replaces the vault's certificate contacts.
func (s *Service) SetContacts(ctx context.Context, c Caller, vault string, cs []Contact) ([]Contact, error) {
	return onContacts(s, ctx, c, vault, PermContactsWrite, func(v Vault) ([]Contact, error) {
		if err := validateContacts(cs); err != nil {
			return nil, err
		}
		body, err := json.Marshal(cs)
		if err != nil {
			return nil, internal(err, "encode certificate contacts")
		}
		now := s.now().UTC()
		st, err := s.store.PutSetting(ctx, Setting{Vault: v.Name, Kind: SettingContacts, Name: contactsSetting, Body: body, Created: now, Updated: now})
		if err != nil {
			return nil, wrapStoreErr(err, "store certificate contacts")
		}
		return contactsOf(st)
	})
}

// GetContacts returns the vault's certificate contacts; NotFound when none are set.
func (s *Service) GetContacts(ctx context.Context, c Caller, vault string) ([]Contact, error) {
	return onContacts(s, ctx, c, vault, PermContactsRead, func(v Vault) ([]Contact, error) {
		cs, ok, err := s.contacts(ctx, v.Name)
		if err == nil && !ok {
			err = contactsNotFound()
		}
		return cs, err
	})
}

// DeleteContacts removes the vault's certificate contacts and returns them.
func (s *Service) DeleteContacts(ctx context.Context, c Caller, vault string) ([]Contact, error) {
	return onContacts(s, ctx, c, vault, PermContactsWrite, func(v Vault) ([]Contact, error) {
		st, err := s.store.DeleteSetting(ctx, v.Name, SettingContacts, contactsSetting)
		if errors.Is(err, store.ErrNotFound) {
			return nil, contactsNotFound()
		}
		if err != nil {
			return nil, internal(err, "delete certificate contacts")
		}
		return contactsOf(st)
	})
}

// contacts reads a vault's contacts, reporting whether any are set.
func (s *Service) contacts(ctx context.Context, vault string) ([]Contact, bool, error) {
	st, err := s.store.GetSetting(ctx, vault, SettingContacts, contactsSetting)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, internal(err, "read certificate contacts")
	}
	cs, err := contactsOf(st)
	return cs, err == nil, err
}
