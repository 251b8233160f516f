package main

import (
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host/pluginhost"
)

// weakSecrets reports the file's secrets that anyone could guess — known
// example values, env() defaults, values shorter than 16 bytes — at their
// attribute, never with their value: warnings, or errors with refuse.
// Provider blocks' sensitive attributes are included when m is not nil.
func weakSecrets(cfg *config.File, m *pluginhost.Manager, refuse bool) hcl.Diagnostics {
	attrs := cfg.Secrets()
	if m != nil {
		for i := range cfg.Bots {
			b := &cfg.Bots[i]
			if p, err := m.Plugin(b.Provider); err == nil && p.Info().Schema.Attributes != nil {
				attrs = append(attrs, b.ConfigSecrets(p.Info().Schema)...)
			}
		}
	}
	var diags hcl.Diagnostics
	for _, s := range attrs {
		weakness := s.Weakness()
		if weakness == "" {
			continue
		}
		d := &hcl.Diagnostic{Severity: hcl.DiagWarning, Subject: s.Range.Ptr(),
			Summary: fmt.Sprintf("%s %s: anyone could guess it; %s", s.Where(), weakness, s.Fix())}
		if refuse {
			d.Severity = hcl.DiagError
			d.Summary = fmt.Sprintf("%s %s, and listen = %q is not a loopback address: %s", s.Where(), weakness, cfg.Listen, s.Fix())
		}
		diags = append(diags, d)
	}
	return diags
}

// logWeakSecrets logs weakSecrets' warnings, one a secret.
func logWeakSecrets(log hclog.Logger, diags hcl.Diagnostics) {
	for _, d := range diags {
		log.Warn("weak secret: "+d.Summary, "at", fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column))
	}
}

// isLoopback reports whether listen (host:port) only accepts connections
// from this machine: 127.0.0.0/8, ::1 or localhost. An empty host is every
// interface.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
