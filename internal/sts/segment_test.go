package sts

import (
	"bytes"
	"testing"
)

func TestDecodeSegment_AcceptsOnlyUnpaddedBase64URL(t *testing.T) {
	cases := []struct {
		name, in string
		want     []byte // nil: refused
	}{
		{"empty", "", []byte{}},
		{"unpadded", "YWI", []byte("ab")},
		{"url alphabet", "-_8", []byte{0xfb, 0xff}},
		{"padding appended", "YWI=", nil},
		{"double padding", "YQ==", nil},
		{"padding in the middle", "YW=I", nil},
		{"standard alphabet plus", "+/8", nil},
		{"line feed", "YW\nI", nil},
		{"carriage return", "Y\rWI", nil},
		{"trailing line feed", "YWI\n", nil},
		{"space", "YW I", nil},
		{"non-zero trailing bits", "YWJ", nil},
		{"impossible length", "YWJjZ", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeSegment(tc.in)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("decodeSegment(%q) = %q; want refused", tc.in, got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("decodeSegment(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
