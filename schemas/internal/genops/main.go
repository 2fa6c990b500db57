// Command genops writes schemas/apiops.json, the catalog of every operation of Exoscale's
// OpenAPI document, for the IAM policy engine and the API reference resources.
//
// It keeps facts only (operationId, method, path, IAM service class, read or write, whether the
// operation answers with an asynchronous operation, parameter and request-body field names,
// types and required flags) and no prose: descriptions and summaries stay in the document.
//
//	go run ./internal/genops -in internal/genops/testdata/openapi.json -out apiops.json
//
// (run from schemas/, as the go:generate line in schemas/apiops.go does).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

func main() {
	in := flag.String("in", "internal/genops/testdata/openapi.json", "the OpenAPI document")
	out := flag.String("out", "apiops.json", "where to write the catalog")
	flag.Parse()
	doc, err := os.ReadFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genops:", err)
		os.Exit(1)
	}
	data, err := Generate(doc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genops:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "genops:", err)
		os.Exit(1)
	}
}

// classRule says which IAM service class the operations of an OpenAPI tag belong to, and
// whether a source documents it (Documented) or we infer it from the portal's tag tree.
type classRule struct {
	Class      string
	Documented bool
	Source     string // why: kept here for review, not written out
}

// documentedClasses are the IAM service classes seen in Exoscale's policy guide, CLI and
// Terraform examples. compute-legacy governs the v1 API and has no operation in the v2 document.
var documentedClasses = []string{"compute", "compute-legacy", "dbaas", "dns", "iam", "sos"}

// operationClass pins single operations whose class a source settles against their tag.
var operationClass = map[string]classRule{
	"list-zones": {"compute", true, "exo CLI issue 716: list-zones counts as compute"},
}

// tagClass maps the tags whose class is documented, or that the document does not define.
// Every other tag takes the class of the root of its `parent` chain, marked inferred, except
// where the root is a documented class and the tag is one whose policy class Exoscale does not document.
var tagClass = map[string]classRule{
	// iam: the guide's role example allows "iam" for key and role management.
	"role":                {"iam", true, "policy guide: role example"},
	"api-key":             {"iam", true, "policy guide: role example"},
	"organization-policy": {"iam", true, "policy guide: organization policy"},
	"user":                {"iam", false, "user operations: not documented"},
	"organization":        {"iam", false, "organization operations: not documented; tag undefined"},
	// compute: the guide's first example rules on resource.sks_nodepool under compute.
	"cluster":              {"compute", true, "policy guide: sks_nodepool under compute"},
	"nodepool":             {"compute", true, "policy guide: sks_nodepool under compute"},
	"nodepool-template":    {"compute", false, "SKS template: inferred"},
	"vpc":                  {"compute", false, "VPC: not documented"},
	"quotas":               {"compute", false, "quota operations: not documented; tag undefined"},
	"ccm":                  {"compute", false, "tag undefined"},
	"compute":              {"compute", true, "tag is the compute class itself"},
	"sos":                  {"sos", true, "sos class"},
	"block-storage":        {"compute", false, "block storage: not documented"},
	"operation":            {"compute", false, "get-operation: not documented"},
	"zone":                 {"compute", false, "zones: not documented beyond list-zones"},
	"environmental-impact": {"compute", false, "not documented"},
}

// rootClass maps the root of a tag's parent chain to a class when the tag has no entry above.
var rootClass = map[string]classRule{
	"compute":             {"compute", true, "compute tags"},
	"dbaas":               {"dbaas", true, "dbaas class"},
	"dns":                 {"dns", true, "dns class"},
	"iam":                 {"iam", false, "iam tags other than roles, keys and org policy"},
	"sks":                 {"compute", false, "SKS: inferred from the guide's compute example"},
	"vpc":                 {"compute", false, "VPC: not documented; its portal parent is compute"},
	"kms":                 {"kms", false, "KMS: not documented"},
	"ai":                  {"ai", false, "AI: not documented"},
	"dedicated-inference": {"ai", false, "AI: not documented"},
	"audit-trail":         {"audit-trail", false, "events: not documented"},
	"general":             {"compute", false, "general: not documented"},
}

type document struct {
	Tags []struct {
		Name   string `json:"name"`
		Parent string `json:"parent"`
	} `json:"tags"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type operationDoc struct {
	OperationID string   `json:"operationId"`
	Tags        []string `json:"tags"`
	Parameters  []struct {
		Name     string          `json:"name"`
		In       string          `json:"in"`
		Required bool            `json:"required"`
		Schema   json.RawMessage `json:"schema"`
	} `json:"parameters"`
	RequestBody *struct {
		Required bool `json:"required"`
		Content  map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

type schema struct {
	Ref        string                     `json:"$ref"`
	Type       string                     `json:"type"`
	Format     string                     `json:"format"`
	Enum       []any                      `json:"enum"`
	Items      *schema                    `json:"items"`
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	AllOf      []json.RawMessage          `json:"allOf"`
}

// The output shapes are schemas.APIOperation, APIParam, APIField and APIService: what
// schemas/apiops.go decodes is what this writes.

// Generate turns the OpenAPI document into the catalog's JSON: deterministic, one operation per
// line so that a change to the document shows as a readable diff.
func Generate(openapi []byte) ([]byte, error) {
	var doc document
	if err := json.Unmarshal(openapi, &doc); err != nil {
		return nil, fmt.Errorf("decode OpenAPI document: %w", err)
	}
	parent := map[string]string{}
	for _, t := range doc.Tags {
		parent[t.Name] = t.Parent
	}
	var ops []schemas.APIOperation
	seen := map[string]bool{}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for method, raw := range doc.Paths[p] {
			switch method {
			case "get", "post", "put", "patch", "delete":
			default:
				continue
			}
			var od operationDoc
			if err := json.Unmarshal(raw, &od); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, p, err)
			}
			if od.OperationID == "" {
				return nil, fmt.Errorf("%s %s: no operationId", method, p)
			}
			if seen[od.OperationID] {
				return nil, fmt.Errorf("%s: operationId used twice", od.OperationID)
			}
			seen[od.OperationID] = true
			op, err := buildOperation(&doc, parent, strings.ToUpper(method), p, od)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", od.OperationID, err)
			}
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("no operation in the document")
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Name < ops[j].Name })

	classes := map[string]bool{} // class → documented
	for _, c := range documentedClasses {
		classes[c] = true
	}
	for _, op := range ops {
		if _, ok := classes[op.Service]; !ok {
			classes[op.Service] = false
		}
	}
	var services []schemas.APIService
	for c, d := range classes {
		services = append(services, schemas.APIService{Name: c, Documented: d})
	}
	sort.Slice(services, func(i, j int) bool { return services[i].Name < services[j].Name })

	var buf bytes.Buffer
	buf.WriteString("{\"generated-by\":\"schemas/internal/genops from Exoscale's OpenAPI document; do not edit\",\n\"services\":")
	sv, err := marshal(services)
	if err != nil {
		return nil, err
	}
	buf.Write(sv)
	buf.WriteString(",\n\"operations\":[\n")
	for i, op := range ops {
		b, err := marshal(op)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		if i < len(ops)-1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
	}
	buf.WriteString("]}\n")
	return buf.Bytes(), nil
}

// marshal is compact JSON without HTML escaping, so that "array<string>" stays readable.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func buildOperation(doc *document, parent map[string]string, method, path string, od operationDoc) (schemas.APIOperation, error) {
	op := schemas.APIOperation{Name: od.OperationID, Method: method, Path: path, Tags: od.Tags, Access: schemas.APIWrite}
	if op.Tags == nil {
		op.Tags = []string{}
	}
	if method == "GET" {
		op.Access = schemas.APIRead
	}
	rule, err := classify(parent, od.OperationID, od.Tags)
	if err != nil {
		return op, err
	}
	op.Service, op.ServiceInferred = rule.Class, !rule.Documented

	for _, prm := range od.Parameters {
		s, err := resolve(doc, prm.Schema)
		if err != nil {
			return op, fmt.Errorf("parameter %s: %w", prm.Name, err)
		}
		op.Params = append(op.Params, schemas.APIParam{Name: prm.Name, In: prm.In, Type: typeName(doc, s), Required: prm.Required || prm.In == "path"})
	}
	if od.RequestBody != nil {
		ct, ok := od.RequestBody.Content["application/json"]
		if !ok {
			return op, errors.New("request body is not application/json")
		}
		s, err := resolve(doc, ct.Schema)
		if err != nil {
			return op, fmt.Errorf("request body: %w", err)
		}
		props, required, err := properties(doc, s)
		if err != nil {
			return op, fmt.Errorf("request body: %w", err)
		}
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ps, err := resolve(doc, props[n])
			if err != nil {
				return op, fmt.Errorf("request body field %s: %w", n, err)
			}
			op.Body = append(op.Body, schemas.APIField{Name: n, Type: typeName(doc, ps), Required: slices.Contains(required, n)})
		}
	}
	// Async: a change answered with an operation object, which the caller must poll with
	// get-operation (itself a GET answering with one, so not async).
	if method != "GET" {
		if r, ok := od.Responses["200"]; ok {
			if c, ok := r.Content["application/json"]; ok {
				var s schema
				if json.Unmarshal(c.Schema, &s) == nil && s.Ref == "#/components/schemas/operation" {
					op.Async = true
				}
			}
		}
	}
	return op, nil
}

// classify picks the class of an operation from the first of its tags that settles one.
func classify(parent map[string]string, name string, tags []string) (classRule, error) {
	if r, ok := operationClass[name]; ok {
		return r, nil
	}
	for _, t := range tags {
		if r, ok := tagClass[t]; ok {
			return r, nil
		}
	}
	for _, t := range tags {
		root := t
		for range 10 { // the tag tree is shallow; bound the walk anyway
			p := parent[root]
			if p == "" {
				break
			}
			if r, ok := tagClass[p]; ok && p != "compute" {
				return classRule{r.Class, false, "parent " + p}, nil
			}
			root = p
		}
		if r, ok := rootClass[root]; ok {
			// A documented root stays documented only for a tag that is a direct child of it.
			r.Documented = r.Documented && (parent[t] == root || t == root)
			return r, nil
		}
	}
	return classRule{}, fmt.Errorf("no service class for tags %v: add the tag to genops' tables", tags)
}

func resolve(doc *document, raw json.RawMessage) (schema, error) {
	var s schema
	for range 20 {
		s = schema{}
		if err := json.Unmarshal(raw, &s); err != nil {
			return s, err
		}
		if s.Ref == "" {
			return s, nil
		}
		name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
		if !ok {
			return s, fmt.Errorf("unsupported $ref %s", s.Ref)
		}
		raw, ok = doc.Components.Schemas[name]
		if !ok {
			return s, fmt.Errorf("unknown $ref %s", s.Ref)
		}
	}
	return s, errors.New("$ref chain too long")
}

// properties returns an object schema's properties, merging allOf parts.
func properties(doc *document, s schema) (map[string]json.RawMessage, []string, error) {
	props := map[string]json.RawMessage{}
	required := slices.Clone(s.Required)
	for n, p := range s.Properties {
		props[n] = p
	}
	for _, part := range s.AllOf {
		ps, err := resolve(doc, part)
		if err != nil {
			return nil, nil, err
		}
		pp, pr, err := properties(doc, ps)
		if err != nil {
			return nil, nil, err
		}
		for n, p := range pp {
			props[n] = p
		}
		required = append(required, pr...)
	}
	return props, required, nil
}

// typeName is a compact JSON type: string, integer, number, boolean, object, array<string>, and
// string(uuid) or string(date-time) where a format says more.
func typeName(doc *document, s schema) string {
	t := s.Type
	if t == "" {
		switch {
		case len(s.Properties) > 0 || len(s.AllOf) > 0:
			t = "object"
		case len(s.Enum) > 0:
			t = "string"
		default:
			t = "any"
		}
	}
	if t == "array" && s.Items != nil {
		item := *s.Items
		if item.Ref != "" {
			raw, _ := json.Marshal(item)
			if r, err := resolve(doc, raw); err == nil {
				item = r
			}
		}
		return "array<" + typeName(doc, item) + ">"
	}
	if s.Format != "" && (t == "string") {
		return t + "(" + s.Format + ")"
	}
	return t
}
