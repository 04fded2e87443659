package vault

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzAuditSpoolLine: a spool line (a file on disk that a crash may have
// cut or a disk may have damaged) never panics the decoder, and what it
// accepts is an audit record that encodes back to an equal record.
func FuzzAuditSpoolLine(f *testing.F) {
	good, _ := json.Marshal(AuditRecord{Time: time.Unix(1700000000, 5).UTC(), RequestID: "r", AppID: "a", Vault: "default",
		Type: Secrets, Name: "s", Operation: string(PermSecretsGet), Outcome: OutcomeSuccess})
	f.Add(append(good, '\n'))
	f.Add(good[:len(good)/2])
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"Time":"not a time","Operation":"x"}`))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := decodeSpoolLine(line)
		if err != nil {
			return
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("accepted record does not encode: %v", err)
		}
		again, err := decodeSpoolLine(b)
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, rec)
		}
	})
}
