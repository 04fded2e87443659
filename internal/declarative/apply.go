package declarative

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrRefused is returned by Apply when the plan holds a change the safety
// rules forbid; nothing was changed.
var ErrRefused = errors.New("the plan holds changes the safety rules forbid")

// Write prints the plan as a diff: "+ kind name" for a create, "~" for an
// update with its changed fields, "-" for a delete, "!" before a refused
// change with the reason, then the notes and a summary line.
func (p *Plan) Write(w io.Writer) {
	for _, c := range p.Changes {
		mark := string(c.Op)
		if c.Refused != "" {
			mark = "!" + mark
		}
		fmt.Fprintf(w, "%s %s %s\n", mark, c.Kind, c.Name)
		for _, f := range c.Fields {
			if f.From == "" && c.Op == OpCreate {
				fmt.Fprintf(w, "    %s: %s\n", f.Field, f.To)
			} else {
				fmt.Fprintf(w, "    %s: %s → %s\n", f.Field, f.From, f.To)
			}
		}
		if c.Refused != "" {
			fmt.Fprintf(w, "    refused: %s\n", c.Refused)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	cr, up, del := p.Counts()
	if p.Empty() {
		fmt.Fprintln(w, "No changes: the server holds this configuration.")
		return
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to delete.\n", cr, up, del)
}

// Apply carries out the plan in order through c, writing one line per
// change done to w. It refuses (ErrRefused, nothing changed) a plan with a
// refused change. When the server refuses a change midway, Apply stops:
// the changes before it stay applied, the error says which change failed
// and how many were not made, and applying the same files again continues
// from there (the plan is computed anew).
func (p *Plan) Apply(ctx context.Context, c Clients, w io.Writer) error {
	if refused := p.Refused(); len(refused) > 0 {
		var lines []string
		for _, r := range refused {
			lines = append(lines, fmt.Sprintf("  %c %s %s: %s", r.Op, r.Kind, r.Name, r.Refused))
		}
		return fmt.Errorf("%w; nothing was changed:\n%s\nAdd these objects to the files, or apply without --prune", ErrRefused, strings.Join(lines, "\n"))
	}
	for i, ch := range p.Changes {
		if err := ch.run(ctx, c); err != nil {
			return fmt.Errorf("%c %s %s: %w\nthe server refused change %d of %d: the %d before it were made, it and the %d after it were not; fix the cause and apply again (apply continues from the server's current state)",
				ch.Op, ch.Kind, ch.Name, err, i+1, len(p.Changes), i, len(p.Changes)-i-1)
		}
		fmt.Fprintf(w, "%c %s %s\n", ch.Op, ch.Kind, ch.Name)
	}
	return nil
}
