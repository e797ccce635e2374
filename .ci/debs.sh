# Sourced by the build scripts: need_debs PKG... installs the Debian packages among PKG that
# are not installed yet (as root, or through sudo). The caller defines log and die.
need_debs() {
	local missing=() p sudo=""
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	log "installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "need root or sudo to install ${missing[*]}"
		sudo=sudo
	fi
	$sudo apt-get update >&2 || die "apt-get update"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]}"
}
