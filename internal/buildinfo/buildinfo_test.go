package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-05T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			"portcullis v1.2.0 (revision 0123456789ab, 2026-12-05T10:00:00Z) go1.26.8"},
		{"local build with changes", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			"portcullis (devel) (revision abc+modified) go1.26.8"},
		{"no vcs", debug.BuildInfo{GoVersion: "go1.26.8"},
			"portcullis (devel) (no version-control information recorded) go1.26.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromBuildInfo(&tc.bi).String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestRead_NamesTheGoVersion(t *testing.T) {
	in := Read()
	if !strings.HasPrefix(in.GoVersion, "go") {
		t.Fatalf("Read() = %+v: no Go version", in)
	}
}
