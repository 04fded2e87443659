package identityagent

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// SecretFileMode is the mode of the header file: the agent's user writes
// it, members of its group (the applications) read it, nobody else.
const SecretFileMode os.FileMode = 0o640

// LookupGroup returns the numeric id of a group given by name or number;
// "" is -1 (keep the agent's own group).
func LookupGroup(group string) (int, error) {
	if group == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(group); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return -1, fmt.Errorf("group %q: %w (give an existing group name or a numeric group id)", group, err)
	}
	n, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("group %q has a non-numeric id %q", group, g.Gid)
	}
	return n, nil
}

// WriteSecretFile writes content to path with SecretFileMode and group gid
// (-1: the agent's own): into a new file in the same directory first,
// then renamed over path, so that a reader sees the old or the new value,
// never a partial one, and the value is never readable with looser
// permissions, not even briefly.
func WriteSecretFile(path string, content []byte, gid int) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("write %s: %w (does the directory exist and can the agent write to it?)", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if gid >= 0 {
		if err := f.Chown(-1, gid); err != nil {
			return fmt.Errorf("write %s: give it group %d: %w (the agent must run as root or be a member of that group)", path, gid, err)
		}
	}
	if err := f.Chmod(SecretFileMode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(content); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// RemoveSecretFile removes a file written by WriteSecretFile; a missing
// file is not an error.
func RemoveSecretFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
