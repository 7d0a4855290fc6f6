package ginsession_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginsession/ginsession"
)

func init() { gin.SetMode(gin.ReleaseMode) } // no debug banner in the examples' output

// browse returns a function that GETs (or, with "POST " in front of the
// path, POSTs) a path on srv with a client that keeps cookies, as a browser
// does, and returns the body.
func browse(srv *httptest.Server) func(path string) string {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	return func(path string) string {
		method := http.MethodGet
		if p, ok := strings.CutPrefix(path, "POST "); ok {
			method, path = http.MethodPost, p
		}
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
}

// New installs the session middleware; SESSION_TYPE (Options.Type) picks
// where sessions live. "memory" needs no server.
func ExampleNew() {
	r := gin.New()
	r.Use(ginsession.New(ginsession.Options{Type: "memory"}))
	r.GET("/visit", func(c *gin.Context) {
		s := ginsession.Default(c)
		n, _ := s.GetInt("visits")
		s.Set("visits", n+1)
		c.String(http.StatusOK, "visit %d", n+1)
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	get := browse(srv)
	fmt.Println(get("/visit"))
	fmt.Println(get("/visit"))
	fmt.Println(get("/visit"))
	// Output:
	// visit 1
	// visit 2
	// visit 3
}

// Default returns the request's session. Values keep their insertion
// order; the typed getters convert whatever the store decoded.
func ExampleDefault() {
	r := gin.New()
	r.Use(ginsession.New(ginsession.Options{Type: "memory"}))
	r.POST("/set", func(c *gin.Context) {
		s := ginsession.Default(c)
		s.Set("user", "alice")
		s.Set("age", 42)
		s.Set("cart", []string{"apples", "pears"})
		c.Status(http.StatusNoContent)
	})
	r.GET("/show", func(c *gin.Context) {
		s := ginsession.Default(c)
		user, _ := s.GetString("user")
		age, _ := s.GetInt("age")
		cart, _ := s.Get("cart") // lists come back as []any
		_, hasEmail := s.Get("email")
		c.String(http.StatusOK, "%s %d %v %v %v", user, age, cart, hasEmail, s.Keys())
	})
	r.POST("/forget", func(c *gin.Context) {
		s := ginsession.Default(c)
		s.Delete("age")
		c.String(http.StatusOK, "%v", s.Keys())
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	get := browse(srv)
	get("POST /set")
	fmt.Println(get("/show"))
	fmt.Println(get("POST /forget"))
	// Output:
	// alice 42 [apples pears] false [user age cart]
	// [user cart]
}

// Regenerate gives the session a new id on login, keeping its data, and
// deletes the entry under the old id, so an id planted before login
// (session fixation) is worthless after it.
func ExampleSession_Regenerate() {
	r := gin.New()
	r.Use(ginsession.New(ginsession.Options{Type: "memory"}))
	var ids []string
	r.GET("/", func(c *gin.Context) {
		s := ginsession.Default(c)
		s.Set("theme", "dark") // an anonymous session with some data
		ids = append(ids, s.ID())
	})
	r.POST("/login", func(c *gin.Context) {
		s := ginsession.Default(c)
		if err := s.Regenerate(); err != nil {
			c.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		s.Set("user", "alice")
		ids = append(ids, s.ID())
	})
	r.GET("/me", func(c *gin.Context) {
		s := ginsession.Default(c)
		user, _ := s.GetString("user")
		theme, _ := s.GetString("theme")
		c.String(http.StatusOK, "%s %s", user, theme)
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	get := browse(srv)
	get("/")
	get("POST /login")
	fmt.Println("new id after login:", ids[0] != ids[1])
	fmt.Println("data kept:", get("/me"))

	// The old id is gone from the store: presenting it gives an empty session.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/me", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: ids[0]})
	resp, _ := http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("old id: %q\n", body)
	// Output:
	// new id after login: true
	// data kept: alice dark
	// old id: " "
}

// Flash stores a message for the next request, which reads it with
// Flashes; reading removes it. The layout is Flask's, so a Flask app's
// get_flashed_messages() sees the same messages.
func ExampleSession_Flash() {
	r := gin.New()
	r.Use(ginsession.New(ginsession.Options{Type: "memory"}))
	r.POST("/save", func(c *gin.Context) {
		s := ginsession.Default(c)
		s.Flash("Saved.", "success")
		s.Flash("Disk almost full.", "warning")
		s.Flash("Hello.") // category "message"
		c.Redirect(http.StatusSeeOther, "/")
	})
	r.GET("/", func(c *gin.Context) {
		s := ginsession.Default(c)
		for _, f := range s.Flashes() {
			fmt.Fprintf(c.Writer, "%s: %s\n", f.Category, f.Message)
		}
		fmt.Fprintf(c.Writer, "(%d more)\n", len(s.Flashes()))
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	get := browse(srv)
	fmt.Print(get("POST /save")) // the client follows the redirect to /
	fmt.Print(get("/"))
	// Output:
	// success: Saved.
	// warning: Disk almost full.
	// message: Hello.
	// (0 more)
	// (0 more)
}

// GetAs decodes a stored value into a Go type, typically a struct through
// its json tags: the store holds plain maps and lists (msgpack or JSON, as
// Flask-Session does), so that Flask reads them too.
func ExampleGetAs() {
	type Cart struct {
		Items []string `json:"items"`
		Total float64  `json:"total"`
	}
	r := gin.New()
	r.Use(ginsession.New(ginsession.Options{Type: "memory"}))
	r.POST("/cart", func(c *gin.Context) {
		ginsession.Default(c).Set("cart", Cart{Items: []string{"apples", "pears"}, Total: 4.5})
	})
	r.GET("/cart", func(c *gin.Context) {
		s := ginsession.Default(c)
		raw, _ := s.Get("cart")
		cart, ok, err := ginsession.GetAs[Cart](s, "cart")
		c.String(http.StatusOK, "stored as %T\n%+v %v %v\n", raw, cart, ok, err)
		_, ok, err = ginsession.GetAs[Cart](s, "missing")
		fmt.Fprintln(c.Writer, ok, err)
		_, _, err = ginsession.GetAs[int](s, "cart")
		fmt.Fprintln(c.Writer, err != nil)
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	get := browse(srv)
	get("POST /cart")
	fmt.Print(get("/cart"))
	// Output:
	// stored as map[string]interface {}
	// {Items:[apples pears] Total:4.5} true <nil>
	// false <nil>
	// true
}
