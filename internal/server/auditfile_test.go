package server

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAuditFile_ReopenWritesToTheNewFileAfterARotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway-audit.log")
	f, err := openAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("before\n"))
	if err := os.Rename(path, path+".1"); err != nil { // what logrotate does
		t.Fatal(err)
	}
	f.Write([]byte("still old\n")) // until the signal, lines go to the moved file
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("after\n"))
	for file, want := range map[string]string{path + ".1": "before\nstill old\n", path: "after\n"} {
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", filepath.Base(file), got, err, want)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	// A path that cannot be opened keeps the current file in use.
	f.path = filepath.Join(dir, "missing-dir", "x.log")
	if err := f.Reopen(); err == nil {
		t.Error("reopen into a missing directory: no error")
	}
	if _, err := f.Write([]byte("kept\n")); err != nil {
		t.Errorf("write after a failed reopen: %v", err)
	}
}
