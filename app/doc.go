package app

import (
	"fmt"
	"strings"
)

// settingsTable is the README's table of settings, made from the flag
// table so that the two never disagree.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | used by | what |\n|---|---|---|---|---|\n")
	for _, s := range settings {
		var users []string
		for _, p := range Processes {
			if p.uses(s) {
				users = append(users, p.Name)
			}
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s | %s |\n", s.flag, codeList(s.env), s.documentedDefault(), strings.Join(users, ", "),
			strings.ReplaceAll(s.usage, "|", "\\|"))
	}
	return b.String()
}

func (s setting) documentedDefault() string {
	var parts []string
	switch {
	case s.shown != "":
		parts = append(parts, s.shown)
	case s.def == "":
		parts = append(parts, "(none)")
	default:
		parts = append(parts, "`"+s.def+"`")
	}
	for _, p := range Processes {
		if d, ok := s.per[p.Name]; ok && p.uses(s) {
			parts = append(parts, fmt.Sprintf("`%s` for %s", d, p.Name))
		}
	}
	return strings.Join(parts, "; ")
}

func codeList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}
