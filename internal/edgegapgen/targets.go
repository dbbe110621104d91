package edgegapgen

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
)

// SpecKind is the format of an Edgegap API description.
type SpecKind int

const (
	// Swagger2 is a Swagger 2.0 document, converted to OpenAPI 3 first.
	Swagger2 SpecKind = iota
	// OpenAPI3 is an OpenAPI 3.x document, generated as is.
	OpenAPI3
)

// Target is one generated file: which spec it comes from and which of the
// spec's operations it covers. Only the listed operations and the schemas
// they reference are generated: the full 2026 v1 spec has 48 operations, of
// which bevygap uses a handful, and the 2024 document does not even compile
// unfiltered (schema names collide with oapi-codegen's response wrappers).
type Target struct {
	// Spec is the spec's path relative to the shared Edgegap directory
	// (../shared/edgegap beside the repository).
	Spec string
	// Kind is the format of Spec.
	Kind SpecKind
	// Output is the generated file, relative to the repository root.
	Output string
	// Package is the Go package name of Output.
	Package string
	// OperationIDs are the operations generated.
	OperationIDs []string
}

// V1OperationIDs are the operations of Edgegap's 2026 v1 specification that
// bevygap uses: deployment status, listing, stop, bulk stop and tags (app
// versions are read with the 2024 operations, which return session_config
// when there is one). Some have a 2024 twin in OperationIDs under another id
// (the URL is the same); they are generated into their own package so that
// the two versions never clash.
var V1OperationIDs = []string{
	"deployment-get",
	"deployment-list",
	"deployment-delete",
	"deployment-bulk-delete",
	"deployment-tag-create",
	"deployment-tag-list",
	"deployment-tag-delete",
}

// V2OperationIDs are the operations of Edgegap's 2026 v2 specification that
// bevygap uses.
var V2OperationIDs = []string{
	"v2-deployment-create",
}

// Targets is every file one generator run produces. The drift test in
// pkg/edgegap/gen checks all of them.
var Targets = []Target{
	{
		Spec:         "swagger.yaml",
		Kind:         Swagger2,
		Output:       "pkg/edgegap/gen/edgegap.gen.go",
		Package:      PackageName,
		OperationIDs: OperationIDs,
	},
	{
		Spec:         "2026/edgegap-v1-openapi.yaml",
		Kind:         OpenAPI3,
		Output:       "pkg/edgegap/gen/edgegapv1/edgegapv1.gen.go",
		Package:      "edgegapv1",
		OperationIDs: V1OperationIDs,
	},
	{
		Spec:         "2026/edgegap-v2-openapi.yaml",
		Kind:         OpenAPI3,
		Output:       "pkg/edgegap/gen/edgegapv2/edgegapv2.gen.go",
		Package:      "edgegapv2",
		OperationIDs: V2OperationIDs,
	},
}

// GenerateTarget generates t from the spec bytes.
func GenerateTarget(t Target, spec []byte) ([]byte, error) {
	var code []byte
	var err error
	switch t.Kind {
	case Swagger2:
		var v3 []byte
		if v3, err = Convert(spec); err == nil {
			code, err = generate(v3, configFor(t.Package, t.OperationIDs), true)
		}
	case OpenAPI3:
		code, err = GenerateOpenAPI3(spec, t.Package, t.OperationIDs)
	default:
		err = fmt.Errorf("unknown spec kind %d", t.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%s from %s: %w", t.Output, t.Spec, err)
	}
	return code, nil
}

// GenerateAll reads every target's spec from the shared Edgegap directory
// sharedDir and returns the generated code by output path (relative to the
// repository root).
func GenerateAll(ctx context.Context, sharedDir string) (map[string][]byte, error) {
	if sharedDir == "" {
		return nil, errors.New("generate: the shared Edgegap directory is not set")
	}
	out := make(map[string][]byte, len(Targets))
	for _, t := range Targets {
		spec, err := ReadSpec(ctx, filepath.Join(sharedDir, filepath.FromSlash(t.Spec)))
		if err != nil {
			return nil, err
		}
		if out[t.Output], err = GenerateTarget(t, spec); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Outputs returns the output paths of all targets, sorted.
func Outputs() []string {
	out := make([]string, 0, len(Targets))
	for _, t := range Targets {
		out = append(out, t.Output)
	}
	slices.Sort(out)
	return out
}
