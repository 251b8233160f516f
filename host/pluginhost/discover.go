package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Prefix starts the file name of every provider plugin binary:
// livechat-provider-<name>.
const Prefix = "livechat-provider-"

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Candidate is a plugin binary found in the plugin directory and cleared for
// launch: executable, inside the directory, and matching its pin if any.
type Candidate struct {
	// Name is the provider name, the file name without Prefix.
	Name string
	// Path is absolute with links resolved: what is executed and hashed.
	Path string
	// SHA256 is the hex digest of the file.
	SHA256 string
	// Warnings say what is unsafe but tolerated: a binary or directory
	// its group can write to. The manager logs them.
	Warnings []string
}

// Problem is a file in the plugin directory that will not be loaded, and why.
type Problem struct {
	Name string
	Path string
	Err  error
}

func (p Problem) Error() string { return fmt.Sprintf("plugin %q (%s): %v", p.Name, p.Path, p.Err) }

// Discover scans dir for plugin binaries. pins maps provider names to the
// expected sha256 (hex); with requireChecksums every plugin needs one. A bad
// file is reported as a Problem and does not stop the others; the error is
// only for a directory that cannot be read.
func Discover(dir string, pins map[string]string, requireChecksums bool) ([]Candidate, []Problem, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin_dir %q: %w", dir, err)
	}
	root, err = filepath.EvalSymlinks(root)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin_dir %q: %w", dir, err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin_dir %q: %w", dir, err)
	}
	var (
		found    []Candidate
		problems []Problem
		seen     = map[string]bool{}
	)
	// A directory anyone can write to lets anyone replace a binary (or,
	// with the sticky bit, plant one under a name not taken yet): nothing
	// in it is trusted.
	dirWarn, dirErr := writableBy(root, "plugin_dir "+root)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), Prefix) {
			continue
		}
		name := strings.TrimPrefix(e.Name(), Prefix)
		path := filepath.Join(root, e.Name())
		seen[name] = true
		c, err := inspect(root, name, path, pins[name], requireChecksums)
		if dirErr != nil {
			err = dirErr
		}
		if err != nil {
			problems = append(problems, Problem{Name: name, Path: path, Err: err})
			continue
		}
		if dirWarn != "" {
			c.Warnings = append(c.Warnings, dirWarn)
		}
		found = append(found, c)
	}
	for name := range pins {
		if !seen[name] {
			problems = append(problems, Problem{Name: name, Path: filepath.Join(root, Prefix+name),
				Err: fmt.Errorf("pinned in the config but not found in plugin_dir")})
		}
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Name < problems[j].Name })
	return found, problems, nil
}

func inspect(root, name, path, pin string, requireChecksums bool) (Candidate, error) {
	if !validName.MatchString(name) {
		return Candidate{}, fmt.Errorf("bad provider name %q: use lower-case letters, digits, '-' and '_'", name)
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return Candidate{}, fmt.Errorf("resolve: %w", err)
	}
	if filepath.Dir(resolved) != root {
		if rel, err := filepath.Rel(root, resolved); err != nil || strings.HasPrefix(rel, "..") {
			return Candidate{}, fmt.Errorf("links outside plugin_dir (to %s); copy the binary into plugin_dir instead", resolved)
		}
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return Candidate{}, err
	}
	if !fi.Mode().IsRegular() {
		return Candidate{}, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return Candidate{}, fmt.Errorf("not executable (mode %04o); chmod +x it", fi.Mode().Perm())
	}
	var warnings []string
	for _, p := range []struct{ path, what string }{{resolved, "the file"}, {filepath.Dir(resolved), "its directory " + filepath.Dir(resolved)}} {
		if p.path == root && p.what != "the file" {
			continue // checked once for all, by Discover
		}
		warn, err := writableBy(p.path, p.what)
		if err != nil {
			return Candidate{}, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
	}
	sum, err := fileSHA256(resolved)
	if err != nil {
		return Candidate{}, err
	}
	switch {
	case pin != "" && !strings.EqualFold(pin, sum):
		return Candidate{}, fmt.Errorf("sha256 mismatch: the config pins %s, the file is %s", strings.ToLower(pin), sum)
	case pin == "" && requireChecksums:
		return Candidate{}, fmt.Errorf("no sha256 pin and require_checksums is on; to trust this file add: plugin %q { sha256 = %q }", name, sum)
	}
	return Candidate{Name: name, Path: resolved, SHA256: sum, Warnings: warnings}, nil
}

// writableBy checks who besides its owner can write to path: everyone is
// an error (the plugin runs with the host's rights, so whoever can change it
// can be livechatd), its group a warning. The mode is what counts, so the
// check is the same for root.
func writableBy(path, what string) (warning string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	mode := fi.Mode()
	switch {
	case mode.Perm()&0o002 != 0:
		return "", fmt.Errorf("%s is world-writable (mode %04o): anyone on this machine could replace the plugin; chmod o-w %s", what, perm(mode), path)
	case mode.Perm()&0o020 != 0:
		return fmt.Sprintf("%s is group-writable (mode %04o): its group could replace the plugin; chmod g-w %s", what, perm(mode), path), nil
	}
	return "", nil
}

// perm is the permission bits of mode with the sticky bit, as chmod writes
// them.
func perm(mode os.FileMode) uint32 {
	p := uint32(mode.Perm())
	if mode&os.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
