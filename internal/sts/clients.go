package sts

import "strings"

// ClientExists reports whether tenantID is a tenant this service serves
// and, if so, whether appID is registered in it now (from the current
// snapshot, without locks): the guard.ClientDirectory that lets the vault
// and the admin API refuse the tokens of a deleted application at once.
func (s *Server) ClientExists(tenantID, appID string) (holds, exists bool) {
	snap := s.cur.Load().snap
	t, ok := snap.Tenant(tenantID)
	if !ok || !strings.EqualFold(t.ID, tenantID) {
		return false, false
	}
	_, exists = snap.Application(t.ID, appID)
	return true, exists
}
