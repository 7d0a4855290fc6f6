package cookie

import "testing"

func TestValidName(t *testing.T) {
	for _, name := range []string{"session", "__Host-sid", "a.b_c-d~!#$%&'*+^`|"} {
		if !ValidName(name) {
			t.Errorf("ValidName(%q) = false", name)
		}
	}
	for _, name := range []string{"", "a b", "x;y", "a=b", "é", "a\x7f", "(", "a\"", "a/b", "a\tb"} {
		if ValidName(name) {
			t.Errorf("ValidName(%q) = true", name)
		}
	}
}

func TestHasAttrBreak(t *testing.T) {
	for s, want := range map[string]bool{"/app": false, "": false, "example.com": false, "é /x": false,
		"/a;b": true, "a\nb": true, "a\x00": true, "a\x7f": true, "\t": true} {
		if got := HasAttrBreak(s); got != want {
			t.Errorf("HasAttrBreak(%q) = %v; want %v", s, got, want)
		}
	}
}
