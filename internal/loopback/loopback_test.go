package loopback

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "LocalHost": true, "localhost.": true,
		"127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"": false, "0.0.0.0": false, "::": false, "192.0.2.1": false, "localhost.evil.example": false,
		"evillocalhost": false, "127.0.0.1.nip.io": false, "[::1]": false,
	} {
		assert.Equal(t, want, IsHost(host), host)
	}
}
