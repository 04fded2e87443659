// Package seal is the only package that touches raw key material at rest. It
// loads the root key (a file or an environment variable, never the database),
// and seals values with AES-256-GCM under a fresh per-object data key that is
// itself wrapped by the root key.
package seal
