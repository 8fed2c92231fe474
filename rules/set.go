package rules

import "github.com/zerodrift/zerodrift/inventory"

// SetRule is a rule whose verdict needs several assets seen together: every firewall of a
// network, every network of a project, the audit configuration along a project's
// ancestry. A scan of a whole inventory gives each SetRule a Tally, hands it every asset
// of the rule's types and finishes it once the source has given them all; its Evaluate
// judges one asset as if it were the whole inventory (JudgeAlone), which is what the
// re-read before and after a live change has to go on. A scan of part of an inventory
// (an event and its context) does not run set rules: their verdict would be a guess.
type SetRule interface {
	Rule
	// Tally starts judging one scan's assets. A tally is used by one goroutine.
	Tally(env *Env) Tally
}

// Tally accumulates what a SetRule needs of a scan's assets, keeping as little of each as
// the verdict needs, and judges them all at the end.
type Tally interface {
	// Add remembers what the rule needs of a; an error means a could not be judged.
	Add(a *inventory.Asset) error
	// Finish appends the findings (and skips) of every asset added.
	Finish(out *Results) error
}

// JudgeAlone is Evaluate for a set rule: asset a judged as the only one there is.
func JudgeAlone(r SetRule, env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(r.Meta(), env, a, out); err != nil {
		return err
	}
	t := r.Tally(env)
	if err := t.Add(a); err != nil {
		return err
	}
	return t.Finish(out)
}
