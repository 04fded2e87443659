package kvapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
)

func TestKeyVault_ContactsThroughAzcertificates(t *testing.T) {
	onEveryBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		certs := e.certificates(t, e.secretCredential(t, e.adminApp()), pathForm)

		_, err := certs.GetContacts(ctx, nil)
		respErr(t, err, http.StatusNotFound, "NotFound")
		_, err = certs.DeleteContacts(ctx, nil)
		respErr(t, err, http.StatusNotFound, "NotFound")
		_, err = certs.SetContacts(ctx, azcertificates.Contacts{ContactList: []*azcertificates.Contact{{Name: to.Ptr("no mail")}}}, nil)
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "e-mail address") {
			t.Fatalf("contact without e-mail: %q", msg)
		}

		set, err := certs.SetContacts(ctx, azcertificates.Contacts{ContactList: []*azcertificates.Contact{
			{Email: to.Ptr("pki@example.test"), Name: to.Ptr("PKI team"), Phone: to.Ptr("+1 555 0100")},
			{Email: to.Ptr("oncall@example.test")},
		}}, nil)
		if err != nil {
			t.Fatalf("SetContacts: %v", err)
		}
		if len(set.ContactList) != 2 || *set.ContactList[0].Name != "PKI team" || !strings.HasSuffix(*set.ID, "/certificates/contacts") {
			t.Fatalf("SetContacts answered %+v", set.Contacts)
		}
		got, err := certs.GetContacts(ctx, nil)
		if err != nil || len(got.ContactList) != 2 || *got.ContactList[1].Email != "oncall@example.test" {
			t.Fatalf("GetContacts: %+v, %v", got.Contacts, err)
		}
		if _, err := certs.SetContacts(ctx, azcertificates.Contacts{ContactList: []*azcertificates.Contact{{Email: to.Ptr("only@example.test")}}}, nil); err != nil {
			t.Fatal(err)
		}
		del, err := certs.DeleteContacts(ctx, nil)
		if err != nil || len(del.ContactList) != 1 || *del.ContactList[0].Email != "only@example.test" {
			t.Fatalf("DeleteContacts: %+v, %v", del.Contacts, err)
		}
		_, err = certs.GetContacts(ctx, nil)
		respErr(t, err, http.StatusNotFound, "NotFound")
	})
}
