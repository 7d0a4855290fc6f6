// Package app is the Flask-Session tutorial rebuilt on Gin and ginsession:
// a login for one demo user, a dashboard that stores a session variable, a
// page that reads it back, a shopping cart kept in the session, and flash
// messages. Pages are server-rendered html/template; every form is a POST
// carrying a per-session CSRF token.
//
// It is the library of the example command (go run ./example) and of the
// tests: New builds the Gin engine from ginsession.Options and a Config.
package app

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/ginsession/ginsession"
)

// Session keys used by the app.
const (
	// KeyUser holds the logged-in user's name.
	KeyUser = "user"
	// KeyRedisTest is the tutorial's session variable, set by the dashboard.
	KeyRedisTest = "redis_test"
	// KeyCart is the cart: a list of item names.
	KeyCart = "cart"
	// KeyCSRF holds the session's CSRF token.
	KeyCSRF = "_csrf_token"
)

// RedisTestValue is what the dashboard stores under KeyRedisTest.
const RedisTestValue = "This is a session variable."

// Limits of the cart.
const (
	MaxCartItems   = 50
	MaxItemNameLen = 80 // characters
)

// CSRFField is the form field (and CSRFHeader the header) carrying the token.
const (
	CSRFField  = "csrf_token"
	CSRFHeader = "X-CSRF-Token"
)

//go:embed templates/*.html static/*
var assets embed.FS

// App is the tutorial application.
type App struct {
	m     *ginsession.Middleware
	cfg   Config
	log   *slog.Logger
	pages map[string]*template.Template
	// dummyHash is compared against when the user name is wrong, so that a
	// wrong name and a wrong password take the same time.
	dummyHash []byte
}

// New builds the app's Gin engine with a session middleware made from
// opts. The caller closes the returned middleware when the server has
// stopped.
func New(opts ginsession.Options, cfg Config) (*gin.Engine, *ginsession.Middleware, error) {
	if opts.Logger == nil {
		opts.Logger = cfg.Logger
	}
	m, err := ginsession.NewMiddleware(opts)
	if err != nil {
		return nil, nil, err
	}
	r, err := NewWithMiddleware(m, cfg)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return r, m, nil
}

// NewWithMiddleware builds the app's Gin engine on an existing middleware.
func NewWithMiddleware(m *ginsession.Middleware, cfg Config) (*gin.Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.User == "" || len(cfg.PasswordHash) == 0 {
		return nil, errors.New("app: Config needs User and PasswordHash (see ConfigFromEnv)")
	}
	cost, err := bcrypt.Cost(cfg.PasswordHash)
	if err != nil {
		return nil, errors.New("app: Config.PasswordHash is not a bcrypt hash")
	}
	a := &App{m: m, cfg: cfg, log: cfg.Logger}
	if a.pages, err = parsePages(); err != nil {
		return nil, err
	}
	// Same cost as the real hash, so both branches of login cost the same.
	if a.dummyHash, err = bcrypt.GenerateFromPassword([]byte("not the password"), cost); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}

	r := gin.New()
	r.Use(a.recovery, a.accessLog, securityHeaders)
	r.StaticFS("/static", http.FS(static))
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })

	s := r.Group("/", m.Handler(), a.csrf)
	s.GET("/", a.index)
	s.GET("/login", a.loginForm)
	s.POST("/login", a.login)
	s.POST("/logout", a.logout)
	s.GET("/session", a.sessionPage)
	auth := s.Group("/", a.requireLogin)
	auth.GET("/dashboard", a.dashboard)
	auth.POST("/logout-others", a.logoutOthers)
	auth.GET("/cart", a.cartPage)
	auth.POST("/cart/add", a.cartAdd)
	auth.POST("/cart/remove", a.cartRemove)
	r.NoRoute(m.Handler(), func(c *gin.Context) {
		a.render(c, http.StatusNotFound, "error", gin.H{"Title": "Not found", "Message": "There is no page here."})
	})
	return r, nil
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"inc": func(i int) int { return i + 1 }}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "dashboard", "session", "cart", "error"} {
		t, err := template.Must(base.Clone()).ParseFS(assets, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes a page into a buffer (so a template error never sends
// half a page), adding the user, the flashed messages and the CSRF token.
func (a *App) render(c *gin.Context, status int, page string, data gin.H) {
	s := ginsession.Default(c)
	if data == nil {
		data = gin.H{}
	}
	user, _ := s.GetString(KeyUser)
	data["User"] = user
	data["Flashes"] = s.Flashes()
	data["CSRF"] = csrfToken(s, user != "" || page == "login")
	data["Page"] = page
	var buf bytes.Buffer
	if err := a.pages[page].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		a.log.Error("app: render page", "page", page, "err", err)
		c.String(http.StatusInternalServerError, "500 Internal Server Error\n")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// redirect answers 303 See Other, so the browser follows a POST with a GET.
func redirect(c *gin.Context, to string) { c.Redirect(http.StatusSeeOther, to) }

func (a *App) index(c *gin.Context) {
	if loggedIn(c) {
		redirect(c, "/dashboard")
		return
	}
	redirect(c, "/login")
}

func loggedIn(c *gin.Context) bool {
	u, ok := ginsession.Default(c).GetString(KeyUser)
	return ok && u != ""
}

func (a *App) requireLogin(c *gin.Context) {
	if !loggedIn(c) {
		ginsession.Default(c).Flash("Please log in to see this page.", "warning")
		redirect(c, "/login")
		c.Abort()
		return
	}
	c.Next()
}

func (a *App) loginForm(c *gin.Context) {
	if loggedIn(c) {
		redirect(c, "/dashboard")
		return
	}
	data := gin.H{"Title": "Log in"}
	if c.Query("logged_out") != "" {
		data["Notice"] = "You have been logged out."
	}
	a.render(c, http.StatusOK, "login", data)
}

func (a *App) login(c *gin.Context) {
	s := ginsession.Default(c)
	user := c.PostForm("username")
	pw := c.PostForm("password")
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.User)) == 1
	hash := a.cfg.PasswordHash
	if !userOK {
		hash = a.dummyHash
	}
	pwOK := bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
	if !userOK || !pwOK {
		a.log.Warn("app: failed login", "remote", c.ClientIP())
		a.render(c, http.StatusUnauthorized, "login", gin.H{"Title": "Log in", "Error": "Wrong user name or password.", "Username": user})
		return
	}
	// A new session id on login (no session fixation), and a new CSRF token.
	if err := s.Regenerate(); err != nil {
		a.log.Error("app: regenerate session id", "err", err)
		a.render(c, http.StatusServiceUnavailable, "error", gin.H{"Title": "Try again", "Message": "The session store is not answering."})
		return
	}
	s.Set(KeyUser, a.cfg.User)
	s.SetUser(a.cfg.User) // indexed: "Log out other devices" finds it
	s.Set(KeyCSRF, newToken())
	s.Flash("Logged in as "+a.cfg.User+".", "success")
	a.log.Info("app: login", "user", a.cfg.User, "remote", c.ClientIP())
	redirect(c, "/dashboard")
}

func (a *App) logout(c *gin.Context) {
	s := ginsession.Default(c)
	user, _ := s.GetString(KeyUser)
	// Deletes the entry from the store and expires the cookie.
	s.Destroy()
	if user != "" {
		a.log.Info("app: logout", "user", user)
	}
	redirect(c, "/login?logged_out=1")
}

func (a *App) dashboard(c *gin.Context) {
	s := ginsession.Default(c)
	s.Set(KeyRedisTest, RedisTestValue)
	cart := cartOf(s)
	a.render(c, http.StatusOK, "dashboard", gin.H{
		"Title":     "Dashboard",
		"CartCount": len(cart),
		"Key":       KeyRedisTest,
		"Value":     RedisTestValue,
	})
}

// logoutOthers logs the user out of every other browser (after a password
// change, a lost laptop): it moves this browser's session to a new id, then
// deletes every stored session of the user — this browser's old id
// included; its new id is stored when the request commits.
func (a *App) logoutOthers(c *gin.Context) {
	s := ginsession.Default(c)
	user, _ := s.GetString(KeyUser)
	if err := s.Regenerate(); err != nil {
		a.render(c, http.StatusServiceUnavailable, "error", gin.H{"Title": "Try again", "Message": "The session store is not answering."})
		return
	}
	s.SetUser(user)
	n, err := a.m.RevokeUser(c.Request.Context(), user)
	switch {
	case errors.Is(err, ginsession.ErrUnsupported):
		s.Flash("This session store cannot find your other devices (it keeps no index).", "warning")
	case err != nil:
		a.log.Error("app: log out other devices", "user", user, "err", err)
		s.Flash("The session store failed; some devices may still be logged in. Try again.", "warning")
	default:
		others := max(n-1, 0) // n counts this browser's old id
		a.log.Info("app: logged out other devices", "user", user, "count", others)
		s.Flash("Logged out "+strconv.Itoa(others)+" other device"+plural(others)+".", "success")
	}
	redirect(c, "/dashboard")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (a *App) sessionPage(c *gin.Context) {
	s := ginsession.Default(c)
	v, ok := s.GetString(KeyRedisTest)
	a.render(c, http.StatusOK, "session", gin.H{"Title": "Session variable", "Key": KeyRedisTest, "Value": v, "Found": ok})
}

// cartOf returns the cart's items. The session hands back a decoded list
// ([]any of strings); GetAs converts it.
func cartOf(s *ginsession.Session) []string {
	cart, _, err := ginsession.GetAs[[]string](s, KeyCart)
	if err != nil {
		return nil
	}
	return cart
}

func (a *App) cartPage(c *gin.Context) {
	s := ginsession.Default(c)
	a.render(c, http.StatusOK, "cart", gin.H{"Title": "Cart", "Items": cartOf(s), "Max": MaxCartItems, "MaxLen": MaxItemNameLen})
}

func (a *App) cartAdd(c *gin.Context) {
	s := ginsession.Default(c)
	item := strings.Join(strings.Fields(c.PostForm("item")), " ")
	cart := cartOf(s)
	switch {
	case item == "":
		s.Flash("Type the name of an item to add.", "warning")
	case utf8.RuneCountInString(item) > MaxItemNameLen || !utf8.ValidString(item):
		s.Flash("Item names are at most "+strconv.Itoa(MaxItemNameLen)+" characters.", "warning")
	case len(cart) >= MaxCartItems:
		s.Flash("The cart is full ("+strconv.Itoa(MaxCartItems)+" items).", "warning")
	default:
		s.Set(KeyCart, append(cart, item))
		s.Flash("Added "+item+" to the cart.", "success")
	}
	redirect(c, "/cart")
}

func (a *App) cartRemove(c *gin.Context) {
	s := ginsession.Default(c)
	cart := cartOf(s)
	i, err := strconv.Atoi(c.PostForm("index"))
	item := c.PostForm("item")
	// The index says which one; the name guards against a cart changed in
	// another tab since the page was rendered.
	if err != nil || i < 0 || i >= len(cart) || cart[i] != item {
		s.Flash("That item is no longer in the cart.", "warning")
		redirect(c, "/cart")
		return
	}
	cart = append(cart[:i:i], cart[i+1:]...)
	if len(cart) == 0 {
		s.Delete(KeyCart)
	} else {
		s.Set(KeyCart, cart)
	}
	s.Flash("Removed "+item+" from the cart.", "success")
	redirect(c, "/cart")
}

// newToken returns 32 random bytes, base64url.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfToken returns the session's CSRF token. It is created on first use
// when create is set (pages with forms), so that anonymous visitors of other
// pages get no session at all.
func csrfToken(s *ginsession.Session, create bool) string {
	if t, ok := s.GetString(KeyCSRF); ok && t != "" {
		return t
	}
	if !create {
		return ""
	}
	t := newToken()
	s.Set(KeyCSRF, t)
	return t
}

// csrf rejects unsafe requests (anything but GET, HEAD, OPTIONS) whose
// csrf_token form field or X-CSRF-Token header does not match the token
// stored in the session. The session cookie is SameSite=Lax already; the
// token also covers same-site attackers and older browsers.
func (a *App) csrf(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	s := ginsession.Default(c)
	want, _ := s.GetString(KeyCSRF)
	got := c.GetHeader(CSRFHeader)
	if got == "" {
		got = c.PostForm(CSRFField)
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		a.log.Warn("app: CSRF token missing or wrong", "method", c.Request.Method, "path", c.Request.URL.Path, "remote", c.ClientIP())
		a.render(c, http.StatusForbidden, "error", gin.H{
			"Title":   "Form expired",
			"Message": "This form has expired or did not come from this site. Go back, reload the page and try again.",
		})
		c.Abort()
		return
	}
	c.Next()
}

func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	c.Next()
}

func (a *App) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	a.log.Debug("app: request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "duration", time.Since(start))
}

func (a *App) recovery(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.Error("app: panic", "method", c.Request.Method, "path", c.Request.URL.Path, "panic", v)
			if !c.Writer.Written() {
				c.AbortWithStatus(http.StatusInternalServerError)
			}
		}
	}()
	c.Next()
}
