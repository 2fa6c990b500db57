//go:build !unix

package apiclient

import "io/fs"

// fileOwner is unknown outside unix.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }
