package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks the yaml.Node tree itself rather than using yaml's struct decoding, so that
// every message carries the line and the key path, unknown keys get a suggestion, and
// defaults survive for keys that are absent.
type decoder struct {
	file string
	// lines maps a key path ("subgraphs[0].schema.file") to the line of its key (of the
	// entry, for list entries), so that validation after decoding can still point at the
	// right line.
	lines map[string]int
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{"": 1}}
}

func (d *decoder) errorf(line int, format string, args ...any) error {
	return &Error{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// line returns the line of the value at path, or of its nearest ancestor that is present
// in the file (a missing key is reported at its parent).
func (d *decoder) line(path string) int {
	for {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return d.lines[""]
		}
		path = path[:i]
	}
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into a node tree, rewriting yaml's syntax errors to FILE:LINE form.
func (d *decoder) parseYAML(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, d.errorf(line, "%s", m[2])
		}
		return nil, d.errorf(0, "%s", strings.TrimPrefix(msg, "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // empty file
	}
	return doc.Content[0], nil
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// decode stores n into v. Absent keys and null values leave v as it is, which holds the
// default.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line // list entries; mapping values have their key's line already
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	switch v.Type() {
	case durationType:
		return d.decodeDuration(n, v, path)
	case byteSizeType:
		return d.decodeByteSize(n, v, path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(newWithDefaults(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.mismatch(n, path, "a list")
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for i, c := range n.Content {
			e := newWithDefaults(v.Type().Elem())
			if err := d.decode(c, e.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
			s = reflect.Append(s, e.Elem())
		}
		v.Set(s)
		return nil
	case reflect.Map:
		return d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return d.mismatch(n, path, "a string")
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return d.mismatch(n, path, "true or false")
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return d.mismatch(n, path, "true or false")
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return d.mismatch(n, path, "an integer")
		}
		var i int64
		if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
			return d.mismatch(n, path, "an integer")
		}
		v.SetInt(i)
		return nil
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
			return d.mismatch(n, path, "a number")
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return d.mismatch(n, path, "a number")
		}
		v.SetFloat(f)
		return nil
	}
	return d.errorf(n.Line, "%s: cannot decode into %s", path, v.Type()) // a bug in Config, not in the file
}

// newWithDefaults returns a pointer to a new t, with t's defaults set when it has any.
func newWithDefaults(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if def, ok := p.Interface().(defaulter); ok {
		def.setDefaults()
	}
	return p
}

func (d *decoder) mismatch(n *yaml.Node, path, want string) error {
	return d.errorf(n.Line, "%s: expected %s, found %s", displayPath(path), want, describe(n))
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// where places a key for messages: "in subgraphs[0]" or "at the top level".
func where(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + path
}

func displayPath(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.ScalarNode {
		return d.mismatch(n, path, "a duration such as 10s")
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, numErr := strconv.ParseFloat(n.Value, 64); numErr == nil {
			return d.errorf(n.Line, "%s: invalid duration %q: give a unit, e.g. %ss", path, n.Value, n.Value)
		}
		return d.errorf(n.Line, "%s: invalid duration %q (use e.g. 500ms, 10s, 1m)", path, n.Value)
	}
	if dur < 0 {
		return d.errorf(n.Line, "%s: duration %q must not be negative", path, n.Value)
	}
	v.SetInt(int64(dur))
	return nil
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first so that "KiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func (d *decoder) decodeByteSize(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.ScalarNode {
		return d.mismatch(n, path, "a size such as 65536 or 64KiB")
	}
	s := strings.TrimSpace(n.Value)
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i < 0 || i > (1<<62)/mult {
		return d.errorf(n.Line, "%s: invalid size %q (use e.g. 65536, 64KiB, 1MiB)", path, n.Value)
	}
	v.SetInt(i * mult)
	return nil
}

// fieldInfo describes the YAML keys of a struct type.
type fieldInfo struct {
	byKey map[string]int // key -> field index
	keys  []string       // in declaration order, for suggestions
	line  int            // index of the Line field, or -1
}

func fieldsOf(t reflect.Type) fieldInfo {
	fi := fieldInfo{byKey: map[string]int{}, line: -1}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		switch {
		case tag == "-" && f.Name == "Line" && f.Type.Kind() == reflect.Int:
			fi.line = i
		case tag != "" && tag != "-" && f.IsExported():
			name, _, _ := strings.Cut(tag, ",")
			fi.byKey[name] = i
			fi.keys = append(fi.keys, name)
		}
	}
	return fi
}

// mappingKeys checks that n is a mapping with unique string keys, applies merge keys (<<)
// through apply, and calls each for the remaining pairs in order.
func (d *decoder) mappingKeys(n *yaml.Node, path, want string, apply func(*yaml.Node) error, each func(key, val *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return d.mismatch(n, path, want)
	}
	// Merged mappings go first, so that the keys written here override them.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() != "!!merge" {
			continue
		}
		val := n.Content[i+1]
		if val.Kind == yaml.AliasNode {
			val = val.Alias
		}
		srcs := []*yaml.Node{val}
		if val.Kind == yaml.SequenceNode {
			srcs = val.Content
		}
		for _, src := range srcs {
			if err := apply(src); err != nil {
				return err
			}
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return d.errorf(k.Line, "%s: keys must be plain strings, found %s", displayPath(path), describe(k))
		}
		if first, dup := seen[k.Value]; dup {
			return d.errorf(k.Line, "duplicate key %q %s (first at line %d)", k.Value, where(path), first)
		}
		seen[k.Value] = k.Line
		if err := each(k, val); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	fi := fieldsOf(v.Type())
	if fi.line >= 0 {
		// Set after the keys, so that a merged (<<) mapping does not leave its own line.
		defer v.Field(fi.line).SetInt(int64(n.Line))
	}
	return d.mappingKeys(n, path, "a mapping of keys",
		func(src *yaml.Node) error { return d.decodeStruct(src, v, path) },
		func(k, val *yaml.Node) error {
			idx, ok := fi.byKey[k.Value]
			if !ok && path == "" && strings.HasPrefix(k.Value, "x-") {
				return nil // a holder for YAML anchors, as in Docker Compose files
			}
			if !ok {
				return d.errorf(k.Line, "unknown key %q %s%s", k.Value, where(path), suggest(k.Value, fi.keys))
			}
			d.lines[joinPath(path, k.Value)] = k.Line
			return d.decode(val, v.Field(idx), joinPath(path, k.Value))
		})
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) error {
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	return d.mappingKeys(n, path, "a mapping",
		func(src *yaml.Node) error { return d.decodeMap(src, v, path) },
		func(k, val *yaml.Node) error {
			e := newWithDefaults(v.Type().Elem())
			d.lines[joinPath(path, k.Value)] = k.Line
			if err := d.decode(val, e.Elem(), joinPath(path, k.Value)); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k.Value), e.Elem())
			return nil
		})
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
