//go:build tools

package main

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/google/uuid"
	_ "github.com/mark3labs/mcp-go/server"
	_ "github.com/modelcontextprotocol/go-sdk/mcp"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/stretchr/testify/require"
	_ "go.uber.org/goleak"
)
