package edgegapsim

import (
	"fmt"
	"strings"
	"time"
)

// addApps adds the configured applications, or the default one when there
// are none.
func (s *Simulator) addApps(apps []App) error {
	if len(apps) == 0 {
		apps = []App{{Name: DefaultApp, Versions: []Version{{Name: DefaultVersion, DockerTag: DefaultDockerTag}}}}
	}
	for _, a := range apps {
		if err := s.AddApp(a); err != nil {
			return err
		}
	}
	return nil
}

// AddApp adds an application with its versions.
func (s *Simulator) AddApp(a App) error {
	if err := checkName("app name", a.Name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[a.Name]; ok {
		return fmt.Errorf("edgegapsim: app %q already exists", a.Name)
	}
	now := time.Now()
	na := &app{name: a.Name, inactive: a.Inactive, created: now, updated: now}
	s.apps[a.Name] = na
	for _, v := range a.Versions {
		if err := s.addVersionLocked(na, v); err != nil {
			delete(s.apps, a.Name)
			return err
		}
	}
	return nil
}

// AddVersion adds a version to an existing application.
func (s *Simulator) AddVersion(appName string, v Version) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return fmt.Errorf("edgegapsim: app %q not found", appName)
	}
	return s.addVersionLocked(a, v)
}

func (s *Simulator) addVersionLocked(a *app, v Version) error {
	if err := checkName("version name", v.Name); err != nil {
		return err
	}
	if a.version(v.Name) != nil {
		return fmt.Errorf("edgegapsim: version %q of app %q already exists", v.Name, a.name)
	}
	if v.Sockets < 0 {
		return fmt.Errorf("edgegapsim: version %q: sockets %d is negative", v.Name, v.Sockets)
	}
	now := time.Now()
	s.nextVerID++
	nv := &version{
		id:               s.nextVerID,
		name:             v.Name,
		inactive:         v.Inactive,
		dockerRepository: v.DockerRepository,
		dockerImage:      v.DockerImage,
		dockerTag:        v.DockerTag,
		sockets:          v.Sockets,
		noSessionConfig:  v.NoSessionConfig,
		created:          now,
		updated:          now,
	}
	if nv.dockerRepository == "" {
		nv.dockerRepository = "registry.edgegap.com/bevygap"
	}
	if nv.dockerImage == "" {
		nv.dockerImage = a.name
	}
	if nv.dockerTag == "" {
		nv.dockerTag = v.Name
	}
	if v.Arguments != "" {
		args := v.Arguments
		nv.arguments = &args
	}
	a.versions = append(a.versions, nv)
	a.updated = now
	return nil
}

// SetAppActive activates or deactivates an application.
func (s *Simulator) SetAppActive(appName string, active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return fmt.Errorf("edgegapsim: app %q not found", appName)
	}
	a.inactive = !active
	a.updated = time.Now()
	return nil
}

// SetVersionActive activates or deactivates an app version.
func (s *Simulator) SetVersionActive(appName, versionName string, active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return fmt.Errorf("edgegapsim: app %q not found", appName)
	}
	v := a.version(versionName)
	if v == nil {
		return fmt.Errorf("edgegapsim: version %q of app %q not found", versionName, appName)
	}
	v.inactive = !active
	v.updated = time.Now()
	return nil
}

// VersionArguments returns the docker arguments stored on an app version.
func (s *Simulator) VersionArguments(appName, versionName string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return "", fmt.Errorf("edgegapsim: app %q not found", appName)
	}
	v := a.version(versionName)
	if v == nil {
		return "", fmt.Errorf("edgegapsim: version %q of app %q not found", versionName, appName)
	}
	if v.arguments == nil {
		return "", nil
	}
	return *v.arguments, nil
}

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("edgegapsim: %s is empty", what)
	}
	if len(name) > 64 {
		return fmt.Errorf("edgegapsim: %s %q is longer than 64 characters", what, name)
	}
	if strings.ContainsAny(name, "/?#%") || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("edgegapsim: %s %q contains '/', '?', '#', '%%', spaces or control characters", what, name)
	}
	return nil
}
