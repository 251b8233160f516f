package pluginhost

import "syscall"

// pluginProcAttr: on Windows a plugin starts in a new process group, so a
// Ctrl-C at the console reaches livechatd only. There is no Pdeathsig: a
// plugin outlives a livechatd that is killed.
func pluginProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}
