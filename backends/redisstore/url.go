package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is the SESSION_REDIS used when none is set.
const DefaultURL = "redis://127.0.0.1:6379"

const minTLS = tls.VersionTLS12

// accepted lists the SESSION_REDIS forms, for error messages.
const accepted = "want redis://[user:password@]host[:port][/db], rediss://… (TLS), " +
	"unix://[user:password@]/path/to/redis.sock[?db=N], " +
	"redis+cluster://[user:password@]host1:port1,host2:port2,… (or rediss+cluster://), " +
	"or redis+sentinel://[user:password@]host1:port1,host2:port2,…/mastername[/db] (or rediss+sentinel://), " +
	"with go-redis query parameters such as pool_size, dial_timeout, read_timeout, write_timeout"

// ClientOptions is what ParseURL makes of a SESSION_REDIS value: exactly one
// of Single, Cluster and Failover is set. The options may be adjusted before
// NewClient is called.
type ClientOptions struct {
	// Single is set for redis://, rediss:// and unix:// URLs.
	Single *redis.Options
	// Cluster is set for redis+cluster:// and rediss+cluster:// URLs.
	Cluster *redis.ClusterOptions
	// Failover is set for redis+sentinel:// and rediss+sentinel:// URLs.
	Failover *redis.FailoverOptions
	// Store holds the store's own settings the URL gives
	// (cluster_reload_min_interval, wait_replicas, wait_timeout); the
	// SESSION_TYPE=redis factory passes them to New.
	Store Options
}

// NewClient builds the go-redis client the options describe. It does not
// connect: connections are made on first use.
func (o *ClientOptions) NewClient() redis.UniversalClient {
	switch {
	case o.Cluster != nil:
		return redis.NewClusterClient(o.Cluster)
	case o.Failover != nil:
		return redis.NewFailoverClient(o.Failover)
	default:
		return redis.NewClient(o.Single)
	}
}

// NewClientFromURL parses a SESSION_REDIS value with ParseURL and builds the
// client.
func NewClientFromURL(s string) (redis.UniversalClient, error) {
	o, err := ParseURL(s)
	if err != nil {
		return nil, err
	}
	return o.NewClient(), nil
}

// ParseURL parses a SESSION_REDIS value. The forms are:
//
//	redis://[[user]:password@]host[:port][/db][?param=value&…]
//	rediss://…                      same, over TLS
//	unix://[[user]:password@]/path/to/redis.sock[?db=N&…]
//	redis+cluster://[[user]:password@]host1:port1,host2:port2,…[?…]
//	rediss+cluster://…              same, over TLS
//	redis+sentinel://[[user]:password@]host1:port1,host2:port2,…/mastername[/db][?…]
//	rediss+sentinel://…             same, over TLS
//
// The default host is localhost and the default port 6379 (26379 for a
// sentinel). A cluster lists some or all of its nodes (the client discovers
// the rest); a sentinel URL lists the sentinels, and its credentials are the
// Redis master's: the sentinels' own go in the sentinel_username and
// sentinel_password query parameters.
//
// Query parameters are go-redis's (field names in snake case): pool_size,
// min_idle_conns, max_idle_conns, pool_timeout, dial_timeout, read_timeout,
// write_timeout (a number of seconds or a Go duration), max_retries,
// client_name, protocol, db (single node), skip_verify (TLS), and so on. An
// unknown parameter is an error. Every client is made with
// ContextTimeoutEnabled, so each store call ends by its context's deadline.
//
// Errors name SESSION_REDIS and show the value with any password redacted.
func ParseURL(s string) (*ClientOptions, error) {
	o, err := parseAll(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("ginsession: SESSION_REDIS=%q: %w (%s)", redact(s), err, accepted)
	}
	return o, nil
}

func parseAll(s string) (*ClientOptions, error) {
	s, p, err := takeStoreParams(s)
	if err != nil {
		return nil, err
	}
	o, err := parseURL(s)
	if err != nil {
		return nil, err
	}
	if o.Cluster == nil && (p.reloadMin != nil || p.stateReload != nil) {
		return nil, errors.New("cluster_reload_min_interval and cluster_state_reload_interval need redis+cluster://")
	}
	switch {
	case o.Single != nil:
		o.Single.ContextTimeoutEnabled = true
	case o.Cluster != nil:
		o.Cluster.ContextTimeoutEnabled = true
		o.Cluster.ClusterStateReloadInterval = DefaultClusterStateReloadInterval
		if p.stateReload != nil {
			if *p.stateReload <= 0 {
				return nil, errors.New("cluster_state_reload_interval must be positive")
			}
			o.Cluster.ClusterStateReloadInterval = *p.stateReload
		}
		if p.reloadMin != nil {
			o.Store.ReloadMinInterval = *p.reloadMin
			if *p.reloadMin == 0 {
				o.Store.ReloadMinInterval = -1 // 0 in the URL: off
			}
		}
	case o.Failover != nil:
		o.Failover.ContextTimeoutEnabled = true
	}
	o.Store.WaitReplicas = p.waitReplicas
	o.Store.WaitTimeout = p.waitTimeout
	if p.waitTimeout != 0 && p.waitReplicas == 0 {
		return nil, errors.New("wait_timeout needs wait_replicas")
	}
	return o, nil
}

// storeParams are the query parameters that are ours, not go-redis's.
type storeParams struct {
	reloadMin, stateReload *time.Duration
	waitReplicas           int
	waitTimeout            time.Duration
}

// takeStoreParams removes the store's own query parameters from a URL.
func takeStoreParams(s string) (string, storeParams, error) {
	var p storeParams
	base, raw, ok := strings.Cut(s, "?")
	if !ok {
		return s, p, nil
	}
	frag := ""
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw, frag = raw[:i], raw[i:]
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return s, p, nil // go-redis reports it
	}
	found := false
	take := func(name string) (string, bool) {
		vs, ok := q[name]
		if !ok {
			return "", false
		}
		found = true
		delete(q, name)
		return vs[len(vs)-1], true
	}
	dur := func(name string) (*time.Duration, error) {
		v, ok := take(name)
		if !ok {
			return nil, nil
		}
		d, err := parseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("invalid %s %q: want a number of seconds or a Go duration (250ms), 0 or more", name, v)
		}
		return &d, nil
	}
	if p.reloadMin, err = dur("cluster_reload_min_interval"); err != nil {
		return s, p, err
	}
	if p.stateReload, err = dur("cluster_state_reload_interval"); err != nil {
		return s, p, err
	}
	if v, ok := take("wait_replicas"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, p, fmt.Errorf("invalid wait_replicas %q: want a number of replicas, 0 or more", v)
		}
		p.waitReplicas = n
	}
	wt, err := dur("wait_timeout")
	if err != nil {
		return s, p, err
	}
	if wt != nil {
		if *wt == 0 {
			return s, p, errors.New("wait_timeout must be positive (Redis' WAIT 0 would block forever)")
		}
		p.waitTimeout = *wt
	}
	if !found {
		return s, p, nil
	}
	if len(q) == 0 {
		return base + frag, p, nil
	}
	return base + "?" + q.Encode() + frag, p, nil
}

// parseDuration reads a number of seconds (2, 0.5) or a Go duration
// (500ms), as go-redis's URL parameters do.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

func parseURL(s string) (*ClientOptions, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return nil, errors.New("not a URL")
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		if strings.Contains(authority(rest), ",") {
			return nil, errors.New("several hosts: use redis+cluster:// or redis+sentinel://")
		}
		o, err := redis.ParseURL(s)
		if err != nil {
			return nil, clean(err)
		}
		return &ClientOptions{Single: o}, nil
	case "redis+cluster", "rediss+cluster":
		return parseCluster(strings.ToLower(scheme) == "rediss+cluster", rest)
	case "redis+sentinel", "rediss+sentinel":
		return parseSentinel(strings.ToLower(scheme) == "rediss+sentinel", rest)
	default:
		return nil, fmt.Errorf("unknown scheme %q", scheme)
	}
}

// authority returns the part of rest (a URL after "scheme://") before the
// path or query.
func authority(rest string) string {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return rest[:i]
	}
	return rest
}

// multiHost is a URL whose host part is a comma-separated list.
type multiHost struct {
	userinfo *url.Userinfo
	hosts    []string
	path     string
	query    url.Values
}

func parseMultiHost(rest string, defaultPort int) (*multiHost, error) {
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		return nil, errors.New("a fragment (#) is not allowed")
	}
	auth := authority(rest)
	tail := rest[len(auth):]
	m := &multiHost{}
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		// Let net/url decode the userinfo (percent-escapes).
		u, err := url.Parse("x://" + auth[:at+1] + "h")
		if err != nil {
			return nil, errors.New("malformed user:password")
		}
		m.userinfo = u.User
		auth = auth[at+1:]
	}
	if auth == "" {
		return nil, errors.New("no host")
	}
	for _, h := range strings.Split(auth, ",") {
		addr, err := hostPort(h, defaultPort)
		if err != nil {
			return nil, err
		}
		m.hosts = append(m.hosts, addr)
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	p, err := url.PathUnescape(path)
	if err != nil {
		return nil, errors.New("malformed path")
	}
	m.path = p
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errors.New("malformed query")
	}
	m.query = q
	return m, nil
}

// hostPort validates one host[:port] of a list and adds the default port.
func hostPort(h string, defaultPort int) (string, error) {
	if h == "" {
		return "", errors.New("empty host in the list")
	}
	host, port := h, strconv.Itoa(defaultPort)
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
		if hh, pp, err := net.SplitHostPort(h); err == nil {
			host, port = hh, pp
		} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			host = h[1 : len(h)-1]
		} else {
			return "", fmt.Errorf("bad host %q", h)
		}
	}
	if host == "" || strings.ContainsAny(host, "[]/@ ") {
		return "", fmt.Errorf("bad host %q", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("bad port in %q", h)
	}
	return net.JoinHostPort(host, port), nil
}

// goRedisURL rebuilds a single-host URL with extra addr= parameters, the
// form go-redis's ParseClusterURL and ParseFailoverURL take.
func (m *multiHost) goRedisURL(tls bool, userinfo *url.Userinfo, path string, q url.Values) string {
	u := url.URL{Scheme: "redis", User: userinfo, Host: m.hosts[0], Path: path}
	if tls {
		u.Scheme = "rediss"
	}
	for _, h := range m.hosts[1:] {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// takeBool removes a boolean parameter from q.
func takeBool(q url.Values, name string) (set, val bool, err error) {
	vs, ok := q[name]
	if !ok {
		return false, false, nil
	}
	delete(q, name)
	switch v := vs[len(vs)-1]; v {
	case "true", "1":
		return true, true, nil
	case "false", "0", "":
		return true, false, nil
	default:
		return false, false, fmt.Errorf("invalid %s boolean %q", name, v)
	}
}

func parseCluster(tls bool, rest string) (*ClientOptions, error) {
	m, err := parseMultiHost(rest, 6379)
	if err != nil {
		return nil, err
	}
	if p := strings.Trim(m.path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("a cluster has only database 0, not %q", p)
	}
	if m.query.Has("db") {
		return nil, errors.New("a cluster has only database 0: no db parameter")
	}
	setSkip, skip, err := takeBool(m.query, "skip_verify")
	if err != nil {
		return nil, err
	}
	o, err := redis.ParseClusterURL(m.goRedisURL(tls, m.userinfo, "", m.query))
	if err != nil {
		return nil, clean(err)
	}
	if o.TLSConfig != nil {
		// Verify each node against its own address, not the first one's.
		o.TLSConfig.ServerName = ""
		o.TLSConfig.MinVersion = minTLS
		if setSkip {
			o.TLSConfig.InsecureSkipVerify = skip
		}
	} else if setSkip {
		return nil, errors.New("skip_verify needs rediss+cluster://")
	}
	return &ClientOptions{Cluster: o}, nil
}

func parseSentinel(tls bool, rest string) (*ClientOptions, error) {
	m, err := parseMultiHost(rest, 26379)
	if err != nil {
		return nil, err
	}
	segs := strings.FieldsFunc(m.path, func(r rune) bool { return r == '/' })
	q := m.query
	master := q.Get("master_name")
	var db string
	switch len(segs) {
	case 0:
	case 1:
		master = segs[0]
	case 2:
		master, db = segs[0], segs[1]
	default:
		return nil, fmt.Errorf("path %q: want /mastername[/db]", m.path)
	}
	if master == "" {
		return nil, errors.New("no master name: want redis+sentinel://host:port,…/mastername")
	}
	q.Set("master_name", master)
	if db != "" {
		if q.Has("db") {
			return nil, errors.New("database given twice (path and db parameter)")
		}
		q.Set("db", db)
	}
	// go-redis takes the sentinels' credentials from the userinfo and the
	// master's from parameters; we take the master's from the userinfo, as
	// a redis:// URL does, and the sentinels' from parameters.
	if m.userinfo != nil {
		if q.Has("username") || q.Has("password") {
			return nil, errors.New("credentials given twice (user:password@ and username/password parameters)")
		}
		if u := m.userinfo.Username(); u != "" {
			q.Set("username", u)
		}
		if p, ok := m.userinfo.Password(); ok {
			q.Set("password", p)
		}
	}
	var sentinelUser *url.Userinfo
	su, sp := q.Get("sentinel_username"), q.Get("sentinel_password")
	if su != "" || sp != "" {
		sentinelUser = url.UserPassword(su, sp)
	}
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	o, err := redis.ParseFailoverURL(m.goRedisURL(tls, sentinelUser, "", q))
	if err != nil {
		return nil, clean(err)
	}
	if o.TLSConfig != nil {
		o.TLSConfig.ServerName = "" // each connection is verified against its own address
	}
	return &ClientOptions{Failover: o}, nil
}

// clean strips a *url.Error's copy of the URL (it may hold a password).
func clean(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact hides passwords in a SESSION_REDIS value, in the userinfo and in
// password parameters, for error messages and logs.
func redact(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	auth := authority(rest)
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		user, _, hasPass := strings.Cut(auth[:at], ":")
		if hasPass {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		q, err := url.ParseQuery(rest[i+1:])
		if err != nil {
			return scheme + "://" + rest[:i] + "?xxxxx"
		}
		for _, k := range []string{"password", "sentinel_password"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		rest = rest[:i+1] + q.Encode()
	}
	return scheme + "://" + rest
}
