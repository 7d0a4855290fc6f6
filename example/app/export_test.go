package app

// ConfigFromEnvCost is ConfigFromEnv with a chosen bcrypt cost, so that
// tests under -race need not pay for bcrypt.DefaultCost every time.
var ConfigFromEnvCost = configFromEnv
