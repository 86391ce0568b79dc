// Package lint holds Petrel's architecture rules as ordinary tests: which
// package may import which, read from `go list`, so a wrong import fails CI
// instead of waiting for a reviewer to notice.
//
// It has no non-test code of substance and must not be imported.
package lint
