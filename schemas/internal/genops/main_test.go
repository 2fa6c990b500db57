package main

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGenerate_CommittedCatalogIsCurrent fails when schemas/apiops.json differs from what the
// generator makes of the committed OpenAPI document: run `go generate ./schemas/`.
func TestGenerate_CommittedCatalogIsCurrent(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("testdata/openapi.json")
	require.NoError(t, err)
	want, err := Generate(doc)
	require.NoError(t, err)
	got, err := os.ReadFile("../../apiops.json")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "schemas/apiops.json is stale: run go generate ./schemas/")
}

func TestGenerate_KeepsNoProse(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("testdata/openapi.json")
	require.NoError(t, err)
	out, err := Generate(doc)
	require.NoError(t, err)
	// Every summary and description of the document stays out.
	var src struct {
		Paths map[string]map[string]struct {
			Summary     string `json:"summary"`
			Description string `json:"description"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(doc, &src))
	prose := 0
	for _, methods := range src.Paths {
		for _, o := range methods {
			for _, text := range []string{o.Summary, o.Description} {
				if len(text) > 12 {
					prose++
					assert.NotContains(t, string(out), text)
				}
			}
		}
	}
	require.Greater(t, prose, 300, "the document's prose was not read")
	var file struct {
		Operations []schemas.APIOperation `json:"operations"`
	}
	require.NoError(t, json.Unmarshal(out, &file))
	assert.Len(t, file.Operations, 374)
}

func TestClassify_UnknownTagIsAnError(t *testing.T) {
	t.Parallel()
	_, err := classify(map[string]string{}, "frobnicate", []string{"no-such-tag"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no-such-tag")
}

func TestGenerate_RejectsDuplicateOperationID(t *testing.T) {
	t.Parallel()
	doc := `{"tags":[{"name":"zone","parent":"general"}],"paths":{
	"/a":{"get":{"operationId":"x","tags":["zone"],"responses":{}}},
	"/b":{"get":{"operationId":"x","tags":["zone"],"responses":{}}}}}`
	_, err := Generate([]byte(doc))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "used twice")
}
