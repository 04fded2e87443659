package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func randomRootKey(t testing.TB) RootKey {
	t.Helper()
	b := make([]byte, RootKeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := ParseRootKey(hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSeal_RoundTrip(t *testing.T) {
	s := NewSealer(randomRootKey(t))
	for _, tc := range []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"empty plaintext", nil, []byte("signing-key/t/k")},
		{"nil aad", []byte("secret"), nil},
		{"large", bytes.Repeat([]byte{0xaa}, 1<<20), []byte("vault/secret/x/v1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob, err := s.Seal(tc.plaintext, tc.aad)
			if err != nil {
				t.Fatal(err)
			}
			if len(blob) != minBlobSize+len(tc.plaintext) {
				t.Errorf("blob is %d bytes, want %d", len(blob), minBlobSize+len(tc.plaintext))
			}
			if len(tc.plaintext) > 8 && bytes.Contains(blob, tc.plaintext[:8]) {
				t.Error("plaintext visible in the blob")
			}
			got, err := s.Open(blob, tc.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatal("round trip changed the plaintext")
			}
			again, err := s.Seal(tc.plaintext, tc.aad)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(blob, again) {
				t.Error("sealing twice gave the same blob")
			}
		})
	}
}

func TestSeal_BlobIsSelfDescribing(t *testing.T) {
	k := randomRootKey(t)
	blob, err := NewSealer(k).Seal([]byte("x"), []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	if blob[0] != version1 {
		t.Errorf("version byte %d", blob[0])
	}
	if id, err := SealedBy(blob); err != nil || id != k.ID() {
		t.Errorf("SealedBy = %q, %v; want %q", id, err, k.ID())
	}
	if _, err := SealedBy(blob[:10]); !errors.Is(err, ErrMalformed) {
		t.Errorf("SealedBy(truncated) error = %v", err)
	}
}

func TestOpen_WrongAADFails(t *testing.T) {
	s := NewSealer(randomRootKey(t))
	blob, err := s.Seal([]byte("secret"), []byte("signing-key/tenant-a/kid1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, aad := range []string{"signing-key/tenant-b/kid1", "", "signing-key/tenant-a/kid", "signing-key/tenant-a/kid1\x00"} {
		if _, err := s.Open(blob, []byte(aad)); !errors.Is(err, ErrAuthentication) {
			t.Errorf("Open with aad %q: error = %v, want ErrAuthentication", aad, err)
		}
	}
}

func TestOpen_EverySingleByteTamperFails(t *testing.T) {
	s := NewSealer(randomRootKey(t))
	aad := []byte("ctx")
	blob, err := s.Seal([]byte("attack at dawn"), aad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range blob {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			tampered := bytes.Clone(blob)
			tampered[i] ^= flip
			if pt, err := s.Open(tampered, aad); err == nil {
				t.Fatalf("byte %d ^ %#x accepted: %q", i, flip, pt)
			}
		}
	}
}

func TestOpen_TruncatedOrExtendedBlobsFail(t *testing.T) {
	s := NewSealer(randomRootKey(t))
	blob, err := s.Seal([]byte("attack at dawn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(blob); n++ {
		if _, err := s.Open(blob[:n], nil); err == nil {
			t.Fatalf("truncated to %d bytes accepted", n)
		} else if n < minBlobSize && !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d bytes: %v, want ErrMalformed", n, err)
		}
	}
	if _, err := s.Open(append(bytes.Clone(blob), 0), nil); err == nil {
		t.Fatal("extended blob accepted")
	}
}

func TestOpen_UnderAnotherRootKeyNamesBothIDs(t *testing.T) {
	a, b := randomRootKey(t), randomRootKey(t)
	blob, err := NewSealer(a).Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewSealer(b).Open(blob, nil)
	if !errors.Is(err, ErrRootKeyMismatch) {
		t.Fatalf("error = %v, want ErrRootKeyMismatch", err)
	}
	if !strings.Contains(err.Error(), a.ID()) || !strings.Contains(err.Error(), b.ID()) {
		t.Fatalf("error %q does not name %s and %s", err, a.ID(), b.ID())
	}
}

func TestOpen_UnknownVersionIsMalformed(t *testing.T) {
	s := NewSealer(randomRootKey(t))
	blob, _ := s.Seal([]byte("x"), nil)
	blob[0] = 2
	if _, err := s.Open(blob, nil); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("error = %v", err)
	}
}

func TestSealer_ZeroRootKeyRefuses(t *testing.T) {
	for name, s := range map[string]*Sealer{"zero key": NewSealer(RootKey{}), "nil sealer": nil} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Seal([]byte("x"), nil); err == nil {
				t.Error("Seal succeeded")
			}
			if _, err := s.Open(make([]byte, 200), nil); err == nil {
				t.Error("Open succeeded")
			}
		})
	}
	if (RootKey{}).ID() != "" {
		t.Error("zero RootKey has an ID")
	}
}

func TestRootKey_NeverPrintsItsBytes(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, RootKeySize)
	k, err := ParseRootKey(hex.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(struct{ K RootKey }{k})
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{k.String(), k.GoString(), string(j)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outputs = append(outputs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k), fmt.Sprintf(verb, []RootKey{k}))
	}
	for _, out := range outputs {
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("output %q is not redacted", out)
		}
		for _, leak := range []string{"ab", "AB", "171", "xab", "q6ur"} {
			if strings.Contains(strings.ReplaceAll(out, "[redacted]", ""), leak) {
				t.Errorf("output %q may leak the key (%q)", out, leak)
			}
		}
	}
	if len(k.ID()) != 8 {
		t.Errorf("ID %q, want 8 hex characters", k.ID())
	}
	if strings.Contains(hex.EncodeToString(raw), k.ID()) {
		t.Error("ID is a prefix of the key")
	}
}

func TestParseRootKey(t *testing.T) {
	raw := make([]byte, RootKeySize)
	for i := range raw {
		raw[i] = byte(0xf0 + i) // high bytes: std and url alphabets differ
	}
	want := mustParse(t, hex.EncodeToString(raw))
	for _, tc := range []struct{ name, in string }{
		{"hex lower", hex.EncodeToString(raw)},
		{"hex upper", strings.ToUpper(hex.EncodeToString(raw))},
		{"base64 std padded", base64.StdEncoding.EncodeToString(raw)},
		{"base64 std raw", base64.RawStdEncoding.EncodeToString(raw)},
		{"base64 url padded", base64.URLEncoding.EncodeToString(raw)},
		{"base64 url raw", base64.RawURLEncoding.EncodeToString(raw)},
		{"surrounding whitespace", "  \t" + base64.StdEncoding.EncodeToString(raw) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseRootKey(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if k.ID() != want.ID() || k.key != want.key {
				t.Fatal("different key")
			}
		})
	}
}

func mustParse(t *testing.T, s string) RootKey {
	t.Helper()
	k, err := ParseRootKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseRootKey_ErrorsDoNotEchoTheInput(t *testing.T) {
	short := bytes.Repeat([]byte{0x5a}, 16)
	long := bytes.Repeat([]byte{0x5a}, 48)
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"whitespace", " \n\t"},
		{"base64 of 16 bytes", base64.StdEncoding.EncodeToString(short)},
		{"base64 of 48 bytes", base64.StdEncoding.EncodeToString(long)},
		{"hex of 16 bytes", hex.EncodeToString(short)},
		{"hex of 33 bytes", hex.EncodeToString(append(short, long[:17]...))},
		{"63 hex chars", hex.EncodeToString(long[:32])[:63]},
		{"64 non-hex chars", strings.Repeat("zq", 32)},
		{"junk", "correct horse battery staple!"},
		{"embedded newline", base64.StdEncoding.EncodeToString(long[:32])[:20] + "\n" + base64.StdEncoding.EncodeToString(long[:32])[20:]},
		{"mixed alphabets", "-+" + base64.RawStdEncoding.EncodeToString(long[:32])[2:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRootKey(tc.in)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, "32 bytes") || !strings.Contains(msg, "base64") || !strings.Contains(msg, "64 hex") {
				t.Errorf("error %q does not state the expected form", msg)
			}
			if in := strings.TrimSpace(tc.in); len(in) >= 4 && (strings.Contains(msg, in) || strings.Contains(msg, in[:4])) {
				t.Errorf("error %q echoes the input", msg)
			}
		})
	}
}

func TestRootKeyFile_GenerateThenLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	k, err := GenerateRootKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	content, _ := os.ReadFile(path)
	if len(content) != 45 || content[44] != '\n' {
		t.Errorf("content is %d bytes, want 44 base64 characters and a newline", len(content))
	}
	loaded, err := LoadRootKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.ID() != k.ID() {
		t.Fatal("loaded a different key")
	}
	blob, _ := NewSealer(k).Seal([]byte("x"), nil)
	if _, err := NewSealer(loaded).Open(blob, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateRootKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrote an existing key file: %v", err)
	}
	if again, _ := LoadRootKeyFile(path); again.ID() != k.ID() {
		t.Fatal("existing key file changed")
	}
}

func TestLoadRootKeyFile_Refusals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	dir := t.TempDir()
	valid := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n"
	for _, tc := range []struct {
		name    string
		mode    os.FileMode
		content string
		wantErr string
		wantIs  error
	}{
		{"world readable", 0o644, valid, "chmod 600", nil},
		{"group readable", 0o640, valid, "chmod 600", nil},
		{"group writable only", 0o620, valid, "chmod 600", nil},
		{"owner read-only is fine", 0o400, valid, "", nil},
		{"bad content", 0o600, "not a key\n", "64 hex", nil},
		{"missing", 0, "", "no such file", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if tc.mode != 0 {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadRootKeyFile(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("error %v is not %v", err, tc.wantIs)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(valid)) {
				t.Fatal("error echoes the key")
			}
		})
	}
	if _, err := LoadRootKeyFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	k, err := ParseRootKey(strings.Repeat("ab", 32))
	if err != nil {
		f.Fatal(err)
	}
	s := NewSealer(k)
	for _, pt := range []string{"", "secret", strings.Repeat("x", 300)} {
		blob, err := s.Seal([]byte(pt), []byte("ctx"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blob, []byte("ctx"))
		f.Add(blob[:len(blob)/2], []byte("ctx"))
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, []byte("ctx"))
	f.Add(bytes.Repeat([]byte{1}, minBlobSize), []byte(nil))
	f.Fuzz(func(t *testing.T, blob, aad []byte) {
		pt, err := s.Open(blob, aad)
		if err == nil {
			// Only a genuine blob opens: re-sealing is the only way to get one,
			// so the fuzzer can at most replay a seed unchanged.
			if !bytes.Equal(aad, []byte("ctx")) {
				t.Fatalf("opened with aad %q: %q", aad, pt)
			}
		}
		_, _ = SealedBy(blob)
	})
}
