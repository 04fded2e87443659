// Package buildinfo says which build of Portcullis is running: the module
// version, the version-control revision and time, and the Go version, as
// the Go toolchain recorded them in the binary (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Info describes the running binary; empty fields were not recorded (a
// `go run`, or a build with -buildvcs=false or outside a checkout).
type Info struct {
	Version   string `json:"version"`            // module version, "(devel)" for a local build
	Revision  string `json:"revision,omitempty"` // vcs.revision
	Time      string `json:"time,omitempty"`     // vcs.time (RFC 3339)
	Modified  bool   `json:"modified"`           // vcs.modified: uncommitted changes
	GoVersion string `json:"goVersion"`
}

// Read returns the build information of the running binary.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from what the toolchain recorded.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is one line: "portcullis VERSION (revision REV[+modified], TIME) GOVERSION".
func (in Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "portcullis %s", in.Version)
	var vcs []string
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if in.Modified {
			rev += "+modified"
		}
		vcs = append(vcs, "revision "+rev)
	}
	if in.Time != "" {
		vcs = append(vcs, in.Time)
	}
	if len(vcs) == 0 {
		vcs = append(vcs, "no version-control information recorded")
	}
	fmt.Fprintf(&b, " (%s) %s", strings.Join(vcs, ", "), in.GoVersion)
	return b.String()
}
