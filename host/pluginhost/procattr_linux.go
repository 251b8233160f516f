package pluginhost

import "syscall"

// pluginProcAttr: on Linux a plugin runs in its own process group, so a
// Ctrl-C at the terminal reaches livechatd, which stops its plugins in
// order, and not the plugins behind its back; and it is killed if
// livechatd dies without stopping it (Pdeathsig).
func pluginProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
