package cookie

import (
	"net/http"
	"strings"
)

// Read returns the first cookie called name from the request headers,
// without allocating for the other cookies. Surrounding double quotes are
// removed, as browsers and Werkzeug do.
func Read(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			part = strings.TrimSpace(part)
			if len(part) <= len(name) || part[len(name)] != '=' || part[:len(name)] != name {
				continue
			}
			v := part[len(name)+1:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// AddVary adds Cookie to the Vary header, extending an existing value.
func AddVary(h http.Header) {
	vs := h["Vary"]
	for _, v := range vs {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "Cookie") {
				return
			}
		}
	}
	if len(vs) == 0 {
		h["Vary"] = varyCookie[:1:1] // shared: an append copies it, and Cookie is never edited away here
		return
	}
	vs[len(vs)-1] += ", Cookie"
}

var varyCookie = []string{"Cookie"}
