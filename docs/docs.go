// Package docs holds the documentation of Portcullis. It is a Go package
// only so that the server can serve the documentation of exactly the
// version it is (GET /docs/ on a running server).
package docs

import "embed"

// Files holds every document of this directory (*.md).
//
//go:embed *.md
var Files embed.FS
