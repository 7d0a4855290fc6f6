// Package race tells tests whether the binary runs under the race
// detector, which makes allocation counts meaningless (it allocates on its
// own) and slows everything down.
package race

// Enabled is true in a binary built with -race.
const Enabled = enabled
