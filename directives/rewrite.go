package directives

import (
	"sort"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/lexer/position"
)

// federationV2LinkPrefix starts the @link url of every Federation v2 subgraph.
const federationV2LinkPrefix = "https://specs.apollo.dev/federation/v2"

// federationLink is added to an event subgraph that declares no Federation v2 link, because
// Cosmo treats event subgraphs as v2 and the rewritten keys (resolvable: false) need v2.
const federationLink = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@external", "@shareable", "@requires", "@provides", "@interfaceObject", "@inaccessible", "@tag", "@override"])`

const publishResultDefinition = "type edfs__PublishResult {\n  success: Boolean!\n}"

// filterInputTypes are the input types and scalar of @openfed__subscriptionFilter.
var filterInputTypes = map[string]bool{
	"openfed__SubscriptionFilterCondition": true,
	"openfed__SubscriptionFieldCondition":  true,
	"openfed__SubscriptionFilterValue":     true,
}

type span struct {
	start, end int
}

// rewrite returns the SDL for composition; see Result.SDL.
func (d *sdlDoc) rewrite(bindings []Binding, events bool) string {
	var cuts []span
	for ref := range d.doc.Directives {
		name := d.directiveName(ref)
		if strings.HasPrefix(name, eventDirectivePrefix) || name == filterDirectiveName {
			if s, ok := d.directiveSpan(ref); ok {
				cuts = append(cuts, s)
			}
		}
	}
	cuts = append(cuts, d.definitionCuts()...)

	needPublishResult := false
	for _, b := range bindings {
		if b.Action == Publish {
			needPublishResult = true
		}
	}
	var add []string
	if needPublishResult && d.types.objects[publishResultType] == nil {
		add = append(add, publishResultDefinition)
	}
	if events && !d.hasFederationV2Link() {
		add = append(add, federationLink)
	}
	if len(cuts) == 0 && len(add) == 0 {
		return d.src
	}

	out := cutSpans(d.src, cuts)
	for _, block := range add {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		if out != "" {
			out += "\n"
		}
		out += block + "\n"
	}
	return out
}

// directiveSpan is the text of directive ref, from '@' to its closing parenthesis.
func (d *sdlDoc) directiveSpan(ref int) (span, bool) {
	dir := d.doc.Directives[ref]
	start := d.offset(dir.At)
	if start >= len(d.src) || d.src[start] != '@' {
		// Guard against a position that does not point where we expect: rather keep the
		// text than cut the wrong bytes.
		return span{}, false
	}
	return span{start: start, end: directiveUsageEnd(d.src, int(dir.Name.End))}, true
}

// definitionCuts returns the definitions that only serve the event directives: their
// directive definitions, edfs__NatsStreamConfiguration and the openfed__ filter inputs, plus
// any other openfed__ input or scalar nothing else refers to.
func (d *sdlDoc) definitionCuts() []span {
	doc := d.doc
	var cuts []span
	removed := map[string]bool{}
	type candidate struct {
		name  string
		cut   span
		found bool
	}
	var others []candidate
	for _, n := range doc.RootNodes {
		var (
			name        string
			start       position.Position
			description ast.Description
			nameEnd     int
			isDirective bool
		)
		switch n.Kind {
		case ast.NodeKindDirectiveDefinition:
			def := doc.DirectiveDefinitions[n.Ref]
			name, description, start, nameEnd, isDirective = d.text(def.Name), def.Description, def.DirectiveLiteral, int(def.Name.End), true
		case ast.NodeKindInputObjectTypeDefinition:
			def := doc.InputObjectTypeDefinitions[n.Ref]
			name, description, start, nameEnd = d.text(def.Name), def.Description, def.InputLiteral, int(def.Name.End)
		case ast.NodeKindInputObjectTypeExtension:
			ext := doc.InputObjectTypeExtensions[n.Ref]
			name, start, nameEnd = d.text(ext.Name), ext.ExtendLiteral, int(ext.Name.End)
		case ast.NodeKindScalarTypeDefinition:
			def := doc.ScalarTypeDefinitions[n.Ref]
			name, description, start, nameEnd = d.text(def.Name), def.Description, def.ScalarLiteral, int(def.Name.End)
		case ast.NodeKindScalarTypeExtension:
			ext := doc.ScalarTypeExtensions[n.Ref]
			name, start, nameEnd = d.text(ext.Name), ext.ExtendLiteral, int(ext.Name.End)
		default:
			continue
		}
		var keep, known bool
		switch {
		case isDirective:
			known = strings.HasPrefix(name, eventDirectivePrefix) || name == filterDirectiveName
			keep = !known
		case name == streamConfigType || filterInputTypes[name]:
			known = true
		case strings.HasPrefix(name, "openfed__"):
		default:
			keep = true
		}
		if keep {
			continue
		}
		from := d.offset(start)
		if description.IsDefined {
			from = d.offset(description.Position)
		}
		if !d.looksLikeDefinitionStart(from) {
			continue
		}
		var to int
		if isDirective {
			to = directiveDefinitionEnd(d.src, nameEnd)
		} else {
			to = typeDefinitionEnd(d.src, nameEnd)
		}
		if known {
			cuts = append(cuts, span{from, to})
			removed[name] = true
		} else {
			others = append(others, candidate{name: name, cut: span{from, to}})
		}
	}
	if len(others) > 0 {
		used := d.typeReferencesOutside(removed)
		for _, c := range others {
			if !used[c.name] {
				cuts = append(cuts, c.cut)
			}
		}
	}
	return cuts
}

// looksLikeDefinitionStart checks that off is where a definition's text begins, so that a
// position we misread never cuts the wrong bytes.
func (d *sdlDoc) looksLikeDefinitionStart(off int) bool {
	rest := d.src[off:]
	for _, p := range []string{`"`, "directive", "input", "scalar", "extend"} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// typeReferencesOutside returns the named types used by fields, arguments, input fields and
// directive arguments of every definition not in removed.
func (d *sdlDoc) typeReferencesOutside(removed map[string]bool) map[string]bool {
	doc := d.doc
	used := map[string]bool{}
	addValues := func(refs []int) {
		for _, ref := range refs {
			used[d.namedType(doc.InputValueDefinitions[ref].Type)] = true
		}
	}
	addFields := func(refs []int) {
		for _, ref := range refs {
			used[d.namedType(doc.FieldDefinitions[ref].Type)] = true
			addValues(doc.FieldDefinitions[ref].ArgumentsDefinition.Refs)
		}
	}
	for _, n := range doc.RootNodes {
		switch n.Kind {
		case ast.NodeKindObjectTypeDefinition:
			addFields(doc.ObjectTypeDefinitions[n.Ref].FieldsDefinition.Refs)
		case ast.NodeKindObjectTypeExtension:
			addFields(doc.ObjectTypeExtensions[n.Ref].FieldsDefinition.Refs)
		case ast.NodeKindInterfaceTypeDefinition:
			addFields(doc.InterfaceTypeDefinitions[n.Ref].FieldsDefinition.Refs)
		case ast.NodeKindInterfaceTypeExtension:
			addFields(doc.InterfaceTypeExtensions[n.Ref].FieldsDefinition.Refs)
		case ast.NodeKindInputObjectTypeDefinition:
			if def := doc.InputObjectTypeDefinitions[n.Ref]; !removed[d.text(def.Name)] {
				addValues(def.InputFieldsDefinition.Refs)
			}
		case ast.NodeKindInputObjectTypeExtension:
			if ext := doc.InputObjectTypeExtensions[n.Ref]; !removed[d.text(ext.Name)] {
				addValues(ext.InputFieldsDefinition.Refs)
			}
		case ast.NodeKindDirectiveDefinition:
			def := doc.DirectiveDefinitions[n.Ref]
			name := d.text(def.Name)
			if !strings.HasPrefix(name, eventDirectivePrefix) && name != filterDirectiveName {
				addValues(def.ArgumentsDefinition.Refs)
			}
		}
	}
	return used
}

// hasFederationV2Link reports whether a schema definition or extension links Federation v2.
func (d *sdlDoc) hasFederationV2Link() bool {
	var lists []ast.DirectiveList
	for _, s := range d.doc.SchemaDefinitions {
		lists = append(lists, s.Directives)
	}
	for _, s := range d.doc.SchemaExtensions {
		lists = append(lists, s.Directives)
	}
	for _, l := range lists {
		for _, ref := range l.Refs {
			if d.directiveName(ref) != "link" {
				continue
			}
			if v, ok := d.directiveArg(ref, "url"); ok {
				if url, ok := d.stringOf(v); ok && strings.HasPrefix(url, federationV2LinkPrefix) {
					return true
				}
			}
		}
	}
	return false
}

// cutSpans removes the spans from src but keeps their line breaks, so that every remaining
// line keeps its number. Blanks left in front of a cut are dropped with it; a single space
// keeps two tokens apart when the cut stood between them.
func cutSpans(src string, cuts []span) string {
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].start < cuts[j].start })
	var sb strings.Builder
	last := 0
	for _, c := range cuts {
		if c.start < last {
			// Inside an earlier cut (a directive on a removed definition).
			if c.end > last {
				sb.WriteString(lineBreaks(src[last:c.end]))
				last = c.end
			}
			continue
		}
		from := c.start
		for from > last && (src[from-1] == ' ' || src[from-1] == '\t') {
			from--
		}
		sb.WriteString(src[last:from])
		breaks := lineBreaks(src[c.start:c.end])
		sb.WriteString(breaks)
		if breaks == "" && sb.Len() > 0 && c.end < len(src) {
			before := sb.String()[sb.Len()-1]
			after := src[c.end]
			if !isSpaceByte(before) && !isSpaceByte(after) {
				sb.WriteByte(' ')
			}
		}
		last = c.end
	}
	sb.WriteString(src[last:])
	return sb.String()
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// lineBreaks returns the line breaks of s ("\n" or "\r\n" as written).
func lineBreaks(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i > 0 && s[i-1] == '\r' {
				sb.WriteByte('\r')
			}
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}
