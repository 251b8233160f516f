//go:build unix && !linux

package pluginhost

import "syscall"

// pluginProcAttr: on other Unix systems a plugin runs in its own process
// group (a Ctrl-C reaches livechatd only). There is no Pdeathsig: a plugin
// outlives a livechatd killed with SIGKILL, and exits when go-plugin's
// connection to it closes.
func pluginProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
