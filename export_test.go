package lifecycle

// SetAfterStep installs a failure-injection hook: fn runs after each step of
// a durable write, named as in durable.go, and an error it returns fails that
// step. The returned function removes it.
func SetAfterStep(fn func(step string) error) (restore func()) {
	afterStep = func(s step) error { return fn(string(s)) }
	return func() { afterStep = nil }
}
