// Package e2e holds the end-to-end test of the example app in a real,
// headless Chromium driven by chromedp. It is a module of its own, so that
// chromedp never enters the library's go.mod; the go.work file at the
// repository root makes `go test ./...` there run it too.
//
// Without chromium the test is skipped (install it with
// `apt-get install -y chromium`); under CI (CI set, and not "false" or "0")
// that is a failure. The dashboard screenshot goes to $E2E_SCREENSHOT_DIR,
// default ginsession-e2e/ under the system temp dir.
package e2e
