package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/playbooks"
)

// loadPlaybooks loads the built-in playbooks and those in the configured folders, with the
// configured unattended overrides applied.
func loadPlaybooks(cfg *config.Config) (*playbooks.Set, error) {
	set, err := playbooks.LoadAll(true, cfg.PlaybookDirs)
	if err != nil {
		return nil, err
	}
	if len(cfg.UnattendedPlaybooks) == 0 {
		return set, nil
	}
	set, err = set.WithUnattended(cfg.UnattendedPlaybooks)
	if err != nil {
		return nil, fmt.Errorf("unattendedPlaybooks: %w", err)
	}
	return set, nil
}

func newPlaybookCmd(g *globals, s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "playbook",
		Short: "List, show and run playbooks (on-call's entry point)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the built-in playbooks and those in the configured folders",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			set, err := loadPlaybooks(cfg)
			if err != nil {
				return err
			}
			return playbooks.WriteList(s.out, set)
		},
	}, &cobra.Command{
		Use:   "show NAME",
		Short: "Show everything a playbook does, and where it was read from",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			set, err := loadPlaybooks(cfg)
			if err != nil {
				return err
			}
			p, ok := set.Get(args[0])
			if !ok {
				return fmt.Errorf("no playbook is named %q: see zerodrift playbook list", args[0])
			}
			return playbooks.WriteShow(s.out, p)
		},
	}, newPlaybookRunCmd(g, s))
	return cmd
}
