package redisstore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginsession/ginsession/backends/redisstore"
)

// recorder is a go-redis hook that records every command the client
// processes, and every pipeline as one round trip.
type recorder struct {
	mu   sync.Mutex
	cmds [][]any
	trip int
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.mu.Lock()
		r.cmds = append(r.cmds, append([]any(nil), cmd.Args()...))
		r.trip++
		r.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.mu.Lock()
		for _, c := range cmds {
			r.cmds = append(r.cmds, append([]any(nil), c.Args()...))
		}
		r.trip++
		r.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns and forgets what was recorded.
func (r *recorder) take() (trips int, cmds [][]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	trips, cmds = r.trip, r.cmds
	r.trip, r.cmds = 0, nil
	return trips, cmds
}

func names(cmds [][]any) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, fmt.Sprint(c[0]))
	}
	return out
}

type serializationVector struct {
	ID     string `json:"id"`
	Config struct {
		KeyPrefix string `json:"SESSION_KEY_PREFIX"`
		Lifetime  int    `json:"lifetime_seconds"`
		Raw       any    `json:"PERMANENT_SESSION_LIFETIME"`
	} `json:"config"`
	Stored    bool   `json:"stored"`
	RedisKey  string `json:"redis_key"`
	RedisTTL  int    `json:"redis_ttl"`
	StoredHex string `json:"stored_hex"`
}

func serializationVectors(t *testing.T) []serializationVector {
	t.Helper()
	b, err := os.ReadFile("../../testdata/flask-session-0.8.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Serialization struct {
			Vectors []serializationVector `json:"vectors"`
		} `json:"serialization"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Serialization.Vectors) < 100 {
		t.Fatalf("only %d serialization vectors", len(doc.Serialization.Vectors))
	}
	return doc.Serialization.Vectors
}

// TestFlaskVectors: for every stored value Flask-Session 0.8 wrote, our
// Save sends exactly "SET <redis_key> <bytes> EX <lifetime>" — the command
// redis-py sent — and the key then holds the recorded bytes with the
// recorded TTL; a value written the way Flask writes it is read back
// byte-identical by Load and LoadVersion.
func TestFlaskVectors(t *testing.T) {
	t.Parallel()
	c := singleClient(t, ownDB(t), true)
	rec := &recorder{}
	c.AddHook(rec)
	st := redisstore.New(c, redisstore.Options{})
	raw := singleClient(t, 0, true)              // a plain client for the Flask side
	if err := c.Ping(ctx(t)).Err(); err != nil { // open the connection before counting
		t.Fatal(err)
	}
	n := 0
	for _, v := range serializationVectors(t) {
		if !v.Stored {
			continue
		}
		n++
		want, err := hex.DecodeString(v.StoredHex)
		if err != nil {
			t.Fatalf("%s: %v", v.ID, err)
		}
		// Flask-Session's lifetime is a timedelta; 90.7 s is recorded as
		// "timedelta(seconds=90.7)" and stored with TTL int(90.7) = 90.
		lifetime := time.Duration(v.Config.Lifetime) * time.Second
		if s, ok := v.Config.Raw.(string); ok && s == "timedelta(seconds=90.7)" {
			lifetime = 90*time.Second + 700*time.Millisecond
		}
		if v.RedisKey != v.Config.KeyPrefix+v.RedisKey[len(v.Config.KeyPrefix):] {
			t.Fatalf("%s: key %q does not start with prefix %q", v.ID, v.RedisKey, v.Config.KeyPrefix)
		}

		rec.take()
		if err := st.Save(ctx(t), v.RedisKey, want, lifetime); err != nil {
			t.Fatalf("%s: Save: %v", v.ID, err)
		}
		trips, cmds := rec.take()
		wantArgs := []any{"set", v.RedisKey, want, "ex", int64(v.RedisTTL)}
		if trips != 1 || len(cmds) != 1 || fmt.Sprint(cmds[0]) != fmt.Sprint(wantArgs) {
			t.Fatalf("%s: Save sent %v in %d round trips; want %v", v.ID, cmds, trips, wantArgs)
		}
		got, err := c.Get(ctx(t), v.RedisKey).Bytes()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: stored %x, %v; want %x", v.ID, got, err, want)
		}
		// EX whole seconds: the remaining PTTL is at most the recorded TTL
		// and has not run down by more than this test's own time since.
		if ttl, full := c.PTTL(ctx(t), v.RedisKey).Val(), time.Duration(v.RedisTTL)*time.Second; ttl > full || ttl < full-2*time.Second {
			t.Fatalf("%s: PTTL %v; want %ds", v.ID, ttl, v.RedisTTL)
		}

		// The Flask side: a value SET by redis-py's command is ours to read.
		key := "flask-side:" + v.RedisKey
		if err := raw.Do(ctx(t), "SET", key, want, "EX", v.RedisTTL).Err(); err != nil {
			t.Fatal(err)
		}
		st0 := redisstore.New(raw, redisstore.Options{})
		data, found, err := st0.Load(ctx(t), key)
		if err != nil || !found || !bytes.Equal(data, want) {
			t.Fatalf("%s: Load of Flask's value = %x, %v, %v", v.ID, data, found, err)
		}
		r, err := st0.LoadVersion(ctx(t), key, lifetime)
		if err != nil || !r.Found || !bytes.Equal(r.Data, want) || !r.Refreshed {
			t.Fatalf("%s: LoadVersion of Flask's value = %+v, %v", v.ID, r, err)
		}
		if err := raw.Del(ctx(t), key).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n < 80 {
		t.Fatalf("only %d stored vectors checked", n)
	}
}
