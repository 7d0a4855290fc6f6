// Package storetest is the conformance suite every ginsession backend runs,
// built-in or third-party, in the style of go-cloud's drivertest packages.
//
// A backend's test calls [Run] with a constructor for fresh stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) backends.Store {
//			return mystore.New(client, mystore.Options{})
//		}, storetest.Options{Granularity: time.Second})
//	}
//
// The suite checks the [backends.Store] contract (round trips, missing and
// expired keys as found=false with a nil error, overwrite, delete, binary
// safety, 1 MiB values, 250-byte keys, cancelled contexts, use after Close)
// and every optional capability the store implements: [backends.Toucher],
// [backends.CompareAndSwapper] (including 50 concurrent read-modify-write
// loops on one key), [backends.Cleaner], [backends.Lister] and [backends.ExpiryReporter]
// (reported expiries within a granularity of the TTL written, following
// rewrites, touches and refreshes; the zero time for missing, deleted and
// expired keys; 250 keys in one call).
//
// Every key the suite writes starts with a random per-run prefix, so several
// runs may share one server. Subtests run in parallel. The subtests that
// wait for an expiry are grouped under "Timed" and run concurrently with
// one another whatever -parallel says, so the suite sleeps once, for about
// 4.5 multiples of [Options.Granularity]: a run against a store with
// one-second expiry takes about five seconds.
//
// A store that does not implement [backends.Toucher] passes, but the touch
// subtests are skipped with a message saying what it costs: the core then
// refreshes every unmodified session it reads by rewriting the whole value
// with Save (and such a rewrite can put back a value a concurrent request
// changed in between). Implement Touch when the server can extend an
// expiry without the value.
//
// Options knobs: Granularity (expiry resolution), MaxValueSize (item-size
// limit; ErrTooLarge accepted above it) and NoPersistence (a store that
// keeps nothing, such as the null store).
package storetest
