package process

import (
	"os/exec"
	"runtime"
	"testing"
)

func TestStringParses(t *testing.T) {
	id := ID{Host: "worker-0", Boot: "0b1c", PIDNS: "4026531836", PID: 42, Start: 1234}
	got, ok := Parse(id.String())
	if !ok || got != id {
		t.Errorf("Parse(%q) = %+v %v, want %+v", id.String(), got, ok, id)
	}
	for _, bad := range []string{"", "run-1", "h/x/1/ns/boot", "h/1/x/ns/boot", "h/0/1/ns/boot", "h/1/1//boot", "h/1/1/ns/", "a/b"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if (ID{}).String() != "" {
		t.Error("the zero ID renders")
	}
}

func TestDead(t *testing.T) {
	if runtime.GOOS != "linux" {
		if !Self().IsZero() {
			t.Fatal("an identity off Linux")
		}
		t.Skip("processes are identified on Linux only")
	}
	self := Self()
	if self.IsZero() {
		t.Fatal("no identity for this process")
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	alive := self
	alive.PID = child.Process.Pid
	start, exists, known := startOf(alive.PID)
	if !exists || !known {
		t.Fatalf("no start time for the child: exists %v, known %v", exists, known)
	}
	alive.Start = start
	reused := alive
	reused.Start++
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	gone := self
	gone.PID = done.ProcessState.Pid()

	for _, tc := range []struct {
		name string
		id   ID
		dead bool
	}{
		{"this process", self, false},
		{"another live process", alive, false},
		{"this PID, started at another time", func() ID { id := self; id.Start++; return id }(), true},
		{"an ended process", gone, true},
		{"a PID now running a process that started at another time", reused, true},
		{"another boot", func() ID { id := gone; id.Boot = "another"; return id }(), false},
		{"another PID namespace", func() ID { id := gone; id.PIDNS = "1"; return id }(), false},
		{"nothing", ID{}, false},
	} {
		if got := Dead(self, tc.id); got != tc.dead {
			t.Errorf("%s: Dead = %v, want %v", tc.name, got, tc.dead)
		}
	}
	if Dead(ID{}, gone) {
		t.Error("proven dead by a process without an identity")
	}
}
