package redisstore_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ginsession/ginsession/backends/redisstore"
)

func TestParseURL(t *testing.T) {
	type want struct {
		kind     string // single, cluster, sentinel
		network  string
		addrs    []string
		db       int
		user     string
		pass     string
		tls      bool
		master   string
		sentUser string
		sentPass string
		pool     int
		dial     time.Duration
		read     time.Duration
		write    time.Duration
	}
	for _, tc := range []struct {
		url string
		w   want
	}{
		{"redis://127.0.0.1:6379", want{kind: "single", network: "tcp", addrs: []string{"127.0.0.1:6379"}}},
		{"redis://", want{kind: "single", network: "tcp", addrs: []string{"localhost:6379"}}},
		{"redis://cache.example", want{kind: "single", network: "tcp", addrs: []string{"cache.example:6379"}}},
		{"redis://:pw@h:7000/3", want{kind: "single", network: "tcp", addrs: []string{"h:7000"}, db: 3, pass: "pw"}},
		{"redis://alice:p%40ss@h:7000/0?db=5", want{kind: "single", network: "tcp", addrs: []string{"h:7000"}, db: 5, user: "alice", pass: "p@ss"}},
		{"redis://[::1]:7000/1", want{kind: "single", network: "tcp", addrs: []string{"[::1]:7000"}, db: 1}},
		{"rediss://h:6380", want{kind: "single", network: "tcp", addrs: []string{"h:6380"}, tls: true}},
		{"redis://h?pool_size=20&dial_timeout=2s&read_timeout=1&write_timeout=500ms", want{kind: "single", network: "tcp", addrs: []string{"h:6379"}, pool: 20, dial: 2 * time.Second, read: time.Second, write: 500 * time.Millisecond}},
		{"unix:///run/redis/redis.sock", want{kind: "single", network: "unix", addrs: []string{"/run/redis/redis.sock"}}},
		{"unix://:pw@/run/redis.sock?db=2&pool_size=4", want{kind: "single", network: "unix", addrs: []string{"/run/redis.sock"}, db: 2, pass: "pw", pool: 4}},
		{"REDIS://h:1", want{kind: "single", network: "tcp", addrs: []string{"h:1"}}},

		{"redis+cluster://h1:7000,h2:7001,h3", want{kind: "cluster", addrs: []string{"h1:7000", "h2:7001", "h3:6379"}}},
		{"redis+cluster://u:pw@h1:7000,[::1]:7001/?pool_size=5&read_timeout=2s", want{kind: "cluster", addrs: []string{"h1:7000", "[::1]:7001"}, user: "u", pass: "pw", pool: 5, read: 2 * time.Second}},
		{"redis+cluster://h1:7000?addr=h2:7001", want{kind: "cluster", addrs: []string{"h1:7000", "h2:7001"}}},
		{"rediss+cluster://h1:7000,h2:7000/0", want{kind: "cluster", addrs: []string{"h1:7000", "h2:7000"}, tls: true}},

		{"redis+sentinel://s1:26379,s2:26380/mymaster", want{kind: "sentinel", addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster"}},
		{"redis+sentinel://:pw@s1,s2/mymaster/4?dial_timeout=3", want{kind: "sentinel", addrs: []string{"s1:26379", "s2:26379"}, master: "mymaster", db: 4, pass: "pw", dial: 3 * time.Second}},
		{"redis+sentinel://u:pw@s1/m?sentinel_password=sp&sentinel_username=su&pool_size=7", want{kind: "sentinel", addrs: []string{"s1:26379"}, master: "m", user: "u", pass: "pw", sentUser: "su", sentPass: "sp", pool: 7}},
		{"redis+sentinel://s1?master_name=m&db=1", want{kind: "sentinel", addrs: []string{"s1:26379"}, master: "m", db: 1}},
		{"rediss+sentinel://s1:26379/m", want{kind: "sentinel", addrs: []string{"s1:26379"}, master: "m", tls: true}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			o, err := redisstore.ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			var got want
			switch {
			case o.Single != nil:
				s := o.Single
				got = want{kind: "single", network: s.Network, addrs: []string{s.Addr}, db: s.DB, user: s.Username, pass: s.Password,
					tls: s.TLSConfig != nil, pool: s.PoolSize, dial: s.DialTimeout, read: s.ReadTimeout, write: s.WriteTimeout}
				if !s.ContextTimeoutEnabled {
					t.Error("ContextTimeoutEnabled is off")
				}
			case o.Cluster != nil:
				s := o.Cluster
				got = want{kind: "cluster", addrs: s.Addrs, user: s.Username, pass: s.Password,
					tls: s.TLSConfig != nil, pool: s.PoolSize, dial: s.DialTimeout, read: s.ReadTimeout, write: s.WriteTimeout}
				if !s.ContextTimeoutEnabled {
					t.Error("ContextTimeoutEnabled is off")
				}
				if s.TLSConfig != nil && s.TLSConfig.ServerName != "" {
					t.Errorf("cluster TLS ServerName %q: each node must be verified against its own name", s.TLSConfig.ServerName)
				}
			case o.Failover != nil:
				s := o.Failover
				got = want{kind: "sentinel", addrs: s.SentinelAddrs, db: s.DB, user: s.Username, pass: s.Password, master: s.MasterName,
					sentUser: s.SentinelUsername, sentPass: s.SentinelPassword,
					tls: s.TLSConfig != nil, pool: s.PoolSize, dial: s.DialTimeout, read: s.ReadTimeout, write: s.WriteTimeout}
				if !s.ContextTimeoutEnabled {
					t.Error("ContextTimeoutEnabled is off")
				}
			default:
				t.Fatal("no options set")
			}
			if got.kind != tc.w.kind || got.network != tc.w.network || !slices.Equal(got.addrs, tc.w.addrs) || got.db != tc.w.db ||
				got.user != tc.w.user || got.pass != tc.w.pass || got.tls != tc.w.tls || got.master != tc.w.master ||
				got.sentUser != tc.w.sentUser || got.sentPass != tc.w.sentPass || got.pool != tc.w.pool ||
				got.dial != tc.w.dial || got.read != tc.w.read || got.write != tc.w.write {
				t.Fatalf("got  %+v\nwant %+v", got, tc.w)
			}
			if c := o.NewClient(); c == nil {
				t.Fatal("NewClient returned nil")
			} else {
				c.Close()
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct{ url, mention string }{
		{"", "not a URL"},
		{"127.0.0.1:6379", "not a URL"},
		{"localhost", "not a URL"},
		{"http://h:6379", "unknown scheme"},
		{"memcached://h", "unknown scheme"},
		{"redis://h:6379/x", "database"},
		{"redis://h:6379/1/2", "path"},
		{"redis://h:notaport", "port"},
		{"redis://h1:1,h2:2", "redis+cluster://"},
		{"redis://h?pool_size=many", "pool_size"},
		{"redis://h?read_timeout=soon", "read_timeout"},
		{"redis://h?no_such_option=1", "no_such_option"},
		{"redis://h?context_timeout_enabled=false", "context_timeout_enabled"},
		{"unix://", "unix socket path"},
		{"redis+cluster://", "no host"},
		{"redis+cluster://h1:1,,h2:2", "empty host"},
		{"redis+cluster://h1:99999", "port"},
		{"redis+cluster://h1:x", "port"},
		{"redis+cluster://h1:1/3", "database 0"},
		{"redis+cluster://h1:1?db=2", "database 0"},
		{"redis+cluster://h1:1?skip_verify=true", "skip_verify"},
		{"redis+cluster://h1:1?pool_size=x", "pool_size"},
		{"redis+cluster://h1:1?bogus=1", "bogus"},
		{"redis+cluster://h1:1#frag", "fragment"},
		{"redis+sentinel://s1:26379", "master name"},
		{"redis+sentinel://s1/m/x", "database"},
		{"redis+sentinel://s1/m/1/extra", "mastername"},
		{"redis+sentinel://s1/m/1?db=2", "twice"},
		{"redis+sentinel://u:p@s1/m?password=q", "twice"},
		{"redis+sentinel://s1/m?bogus=1", "bogus"},
		{"redis+sentinel://s1:0/m", "port"},
		{"redis://h?cluster_reload_min_interval=1s", "redis+cluster://"},
		{"redis+sentinel://s1/m?cluster_state_reload_interval=1s", "redis+cluster://"},
		{"redis+cluster://h1:1?cluster_reload_min_interval=soon", "cluster_reload_min_interval"},
		{"redis+cluster://h1:1?cluster_state_reload_interval=-1s", "cluster_state_reload_interval"},
		{"redis+cluster://h1:1?cluster_state_reload_interval=0", "positive"},
		{"redis://h?wait_replicas=-1", "wait_replicas"},
		{"redis://h?wait_replicas=two", "wait_replicas"},
		{"redis://h?wait_replicas=1&wait_timeout=0", "wait_timeout"},
		{"redis://h?wait_timeout=1s", "wait_timeout needs wait_replicas"},
		{"redis://h?wait_replicas=1&bogus=1", "bogus"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, err := redisstore.ParseURL(tc.url)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "ginsession: SESSION_REDIS=") {
				t.Errorf("error does not name SESSION_REDIS: %v", err)
			}
			if !strings.Contains(msg, tc.mention) {
				t.Errorf("error does not mention %q: %v", tc.mention, err)
			}
			if !strings.Contains(msg, "redis+sentinel://") {
				t.Errorf("error does not list the accepted forms: %v", err)
			}
		})
	}
}

// TestParseURLRedactsPasswords: error messages never show a password.
func TestParseURLRedactsPasswords(t *testing.T) {
	for _, u := range []string{
		"redis://user:hunter2@h:6379/x",
		"redis://:hunter2@h?bogus=1",
		"redis+cluster://u:hunter2@h1:1,h2:x",
		"redis+sentinel://:hunter2@s1/m?sentinel_password=hunter2&bogus=1",
		"redis+sentinel://s1/m?password=hunter2&bogus=1",
		"redis://u:hunter2@h:1/%zz",
	} {
		_, err := redisstore.ParseURL(u)
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestParseURLStoreParams: the store's own parameters are taken out of the
// URL (go-redis would refuse them) and set the store's options and the
// Cluster client's reload interval.
func TestParseURLStoreParams(t *testing.T) {
	o, err := redisstore.ParseURL("redis+cluster://h1:1,h2:2?pool_size=3&cluster_reload_min_interval=100ms&cluster_state_reload_interval=2&wait_replicas=1&wait_timeout=50ms")
	if err != nil {
		t.Fatal(err)
	}
	if o.Cluster.PoolSize != 3 || o.Cluster.ClusterStateReloadInterval != 2*time.Second {
		t.Errorf("cluster options: pool %d, reload interval %v", o.Cluster.PoolSize, o.Cluster.ClusterStateReloadInterval)
	}
	if o.Store.ReloadMinInterval != 100*time.Millisecond || o.Store.WaitReplicas != 1 || o.Store.WaitTimeout != 50*time.Millisecond {
		t.Errorf("store options: %+v", o.Store)
	}

	o, err = redisstore.ParseURL("redis+cluster://h1:1?cluster_reload_min_interval=0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Store.ReloadMinInterval >= 0 {
		t.Errorf("cluster_reload_min_interval=0 gives %v, want negative (off)", o.Store.ReloadMinInterval)
	}
	if o.Cluster.ClusterStateReloadInterval != redisstore.DefaultClusterStateReloadInterval {
		t.Errorf("default reload interval %v", o.Cluster.ClusterStateReloadInterval)
	}

	o, err = redisstore.ParseURL("redis+cluster://h1:1")
	if err != nil {
		t.Fatal(err)
	}
	if o.Store.ReloadMinInterval != 0 || o.Store.WaitReplicas != 0 {
		t.Errorf("defaults: %+v", o.Store)
	}

	for _, u := range []string{"redis://h:1/2?wait_replicas=2", "redis+sentinel://s1/m?wait_replicas=2&db=3"} {
		o, err := redisstore.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		if o.Store.WaitReplicas != 2 {
			t.Errorf("%s: WaitReplicas %d", u, o.Store.WaitReplicas)
		}
		db := 0
		if o.Single != nil {
			db = o.Single.DB
		} else {
			db = o.Failover.DB
		}
		if db == 0 {
			t.Errorf("%s: the other parameters were lost (db %d)", u, db)
		}
	}
}
