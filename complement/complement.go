// Package conformance pins Complement, the Matrix conformance suite, as a Go
// module dependency of this directory, so that run.sh can test its packages
// (`go test github.com/matrix-org/complement/tests/csapi`) at the version in
// go.mod. It holds no code of its own.
package conformance

import _ "github.com/matrix-org/complement"
