package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

// Per-vault settings (table vault_settings): certificate issuers and the
// certificate contacts, keyed by vault, kind and lower-cased name. Writes go
// through Store.Write, so they move the revision like every vault write.

const settingColumns = `vault, kind, name, body, created_at, updated_at`

func scanSetting(rows Rows) (vault.Setting, error) {
	var st vault.Setting
	var kind string
	if err := rows.Scan(&st.Vault, &kind, &st.Name, &st.Body, &st.Created, &st.Updated); err != nil {
		return vault.Setting{}, err
	}
	st.Kind = vault.SettingKind(kind)
	st.Body = Bytes(st.Body)
	return st, nil
}

func settingArgs(vaultName string, kind vault.SettingKind, name string) []any {
	return []any{key(vaultName), string(kind), key(name)}
}

func describeSetting(vaultName string, kind vault.SettingKind, name string) string {
	return fmt.Sprintf("%s %q of vault %q", kind, name, vaultName)
}

func getSetting(ctx context.Context, q Querier, vaultName string, kind vault.SettingKind, name, lock string) (vault.Setting, error) {
	rows, err := q.Query(ctx, `SELECT `+settingColumns+` FROM vault_settings WHERE vault_key = ? AND kind = ? AND name_key = ?`+lock, settingArgs(vaultName, kind, name)...)
	if err != nil {
		return vault.Setting{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return vault.Setting{}, err
		}
		return vault.Setting{}, fmt.Errorf("%s: %w", describeSetting(vaultName, kind, name), store.ErrNotFound)
	}
	st, err := scanSetting(rows)
	if err != nil {
		return vault.Setting{}, err
	}
	return st, rows.Close()
}

// CreateSetting writes a new setting; store.ErrConflict if it exists,
// store.ErrNotFound if the vault does not exist.
func (s *Store) CreateSetting(ctx context.Context, st vault.Setting) (vault.Setting, error) {
	return s.writeSetting(ctx, st, false)
}

// PutSetting creates or replaces a setting; its Name and Created stay those
// of its first write; store.ErrNotFound if the vault does not exist.
func (s *Store) PutSetting(ctx context.Context, st vault.Setting) (vault.Setting, error) {
	return s.writeSetting(ctx, st, true)
}

// writeSetting inserts st, or replaces an existing one when replace is set.
func (s *Store) writeSetting(ctx context.Context, st vault.Setting, replace bool) (vault.Setting, error) {
	what := "put " + describeSetting(st.Vault, st.Kind, st.Name)
	if err := required(what, "vault", st.Vault, "kind", string(st.Kind), "name", st.Name); err != nil {
		return vault.Setting{}, err
	}
	var out vault.Setting
	err := s.Write(ctx, func(q Querier) error {
		v, err := getVault(ctx, q, st.Vault, s.db.ForUpdate())
		if err != nil {
			return err
		}
		cur, err := getSetting(ctx, q, st.Vault, st.Kind, st.Name, s.db.ForUpdate())
		switch {
		case err == nil && !replace:
			return fmt.Errorf("%s exists: %w", describeSetting(v.Name, st.Kind, cur.Name), store.ErrConflict)
		case err == nil:
			cur.Body, cur.Updated = Bytes(cloneBytes(st.Body)), Time(st.Updated)
			_, err = q.Exec(ctx, `UPDATE vault_settings SET body = ?, updated_at = ? WHERE vault_key = ? AND kind = ? AND name_key = ?`,
				append([]any{cur.Body, cur.Updated}, settingArgs(st.Vault, st.Kind, st.Name)...)...)
			out = cur
			return err
		case errors.Is(err, store.ErrNotFound):
			out = vault.Setting{Vault: v.Name, Kind: st.Kind, Name: st.Name, Body: Bytes(cloneBytes(st.Body)), Created: Time(st.Created), Updated: Time(st.Updated)}
			_, err = q.Exec(ctx, `INSERT INTO vault_settings (vault_key, kind, name_key, vault, name, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				append(settingArgs(st.Vault, st.Kind, st.Name), out.Vault, out.Name, out.Body, out.Created, out.Updated)...)
			return err
		default:
			return err
		}
	})
	if err := s.finish(what, err); err != nil {
		return vault.Setting{}, err
	}
	return out, nil
}

// GetSetting returns a setting; store.ErrNotFound if absent.
func (s *Store) GetSetting(ctx context.Context, vaultName string, kind vault.SettingKind, name string) (vault.Setting, error) {
	st, err := readValue(ctx, s, func(q Querier) (vault.Setting, error) { return getSetting(ctx, q, vaultName, kind, name, "") })
	if err != nil {
		return vault.Setting{}, s.vaultError("get setting", err)
	}
	return st, nil
}

// UpdateSetting loads a setting, calls mutate and writes Body and Updated
// back in one transaction; mutate's error is returned as is.
func (s *Store) UpdateSetting(ctx context.Context, vaultName string, kind vault.SettingKind, name string, mutate func(*vault.Setting) error) (vault.Setting, error) {
	var out vault.Setting
	err := s.Write(ctx, func(q Querier) error {
		cur, err := getSetting(ctx, q, vaultName, kind, name, s.db.ForUpdate())
		if err != nil {
			return err
		}
		c := cur
		c.Body = cloneBytes(cur.Body)
		if err := mutate(&c); err != nil {
			return callbackError{err}
		}
		cur.Body, cur.Updated = Bytes(cloneBytes(c.Body)), Time(c.Updated)
		if _, err := q.Exec(ctx, `UPDATE vault_settings SET body = ?, updated_at = ? WHERE vault_key = ? AND kind = ? AND name_key = ?`,
			append([]any{cur.Body, cur.Updated}, settingArgs(vaultName, kind, name)...)...); err != nil {
			return err
		}
		out = cur
		return nil
	})
	if err := s.finish("update "+describeSetting(vaultName, kind, name), err); err != nil {
		return vault.Setting{}, err
	}
	return out, nil
}

// ListSettings returns a vault's settings of one kind ordered by
// case-folded name.
func (s *Store) ListSettings(ctx context.Context, vaultName string, kind vault.SettingKind) ([]vault.Setting, error) {
	out, err := readValue(ctx, s, func(q Querier) ([]vault.Setting, error) {
		return scanAll(ctx, q, `SELECT `+settingColumns+` FROM vault_settings WHERE vault_key = ? AND kind = ? ORDER BY name_key`, []any{key(vaultName), string(kind)}, scanSetting)
	})
	if err != nil {
		return nil, fmt.Errorf("list %s of vault %q: %w", kind, vaultName, err)
	}
	return out, nil
}

// DeleteSetting removes a setting and returns it; store.ErrNotFound if absent.
func (s *Store) DeleteSetting(ctx context.Context, vaultName string, kind vault.SettingKind, name string) (vault.Setting, error) {
	var out vault.Setting
	err := s.Write(ctx, func(q Querier) error {
		cur, err := getSetting(ctx, q, vaultName, kind, name, s.db.ForUpdate())
		if err != nil {
			return err
		}
		out = cur
		_, err = q.Exec(ctx, `DELETE FROM vault_settings WHERE vault_key = ? AND kind = ? AND name_key = ?`, settingArgs(vaultName, kind, name)...)
		return err
	})
	if err := s.finish("delete "+describeSetting(vaultName, kind, name), err); err != nil {
		return vault.Setting{}, err
	}
	return out, nil
}
