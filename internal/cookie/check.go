package cookie

import "strings"

// ValidName reports whether name is an RFC 6265 cookie-name (an RFC 2616
// token), as net/http requires.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// HasAttrBreak reports whether s contains a byte that would end or corrupt
// a Set-Cookie attribute: ';' or a control character.
func HasAttrBreak(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ';' || c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}
