package main

import (
	"encoding/json"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestSkeletonYAMLInputIsSkeletonInput: the YAML skeleton has the JSON
// skeleton's fields and values, and a comment on every field.
func TestSkeletonYAMLInputIsSkeletonInput(t *testing.T) {
	var fromJSON, fromYAML map[string]any
	if err := json.Unmarshal([]byte(skeletonInput), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(skeletonYAMLInput), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Errorf("skeleton yaml-input holds %v\nskeleton input holds      %v", fromYAML, fromJSON)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(skeletonYAMLInput), &doc); err != nil {
		t.Fatal(err)
	}
	var check func(n *yaml.Node)
	check = func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].LineComment == "" && n.Content[i+1].LineComment == "" {
				t.Errorf("field %s has no comment", n.Content[i].Value)
			}
			check(n.Content[i+1])
		}
	}
	check(doc.Content[0])
}
