# shellcheck shell=bash
# Sourced by scripts/build-mirror.sh and tests/standins/build-debs.sh: index and sign a flat apt
# repository (deb <uri> /) of the .debs in a directory, as pkgs.k8s.io publishes it.

# orch_sign_flat_repo <repo dir> <public key file> <gnupg home> <origin> <label> <architectures> <key uid> <key expiry>
# Writes Packages, Packages.gz, Release, InRelease and Release.gpg in <repo dir>, signed with a
# throwaway ed25519 key made in <gnupg home>, and its public key (armored) to <public key file>.
orch_sign_flat_repo() {
  local repo=$1 keyfile=$2 gnupg=$3 origin=$4 label=$5 archs=$6 uid=$7 expiry=$8 f
  (cd "$repo" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages && gzip -9kf Packages)
  {
    echo "Origin: $origin"
    echo "Label: $label"
    echo "Architectures: $archs"
    echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
    echo "SHA256:"
    for f in Packages Packages.gz; do
      printf ' %s %s %s\n' "$(sha256sum "$repo/$f" | cut -d' ' -f1)" "$(stat -c %s "$repo/$f")" "$f"
    done
  } >"$repo/Release"
  GNUPGHOME=$gnupg gpg --batch --quiet --passphrase '' --quick-gen-key "$uid" ed25519 sign "$expiry"
  GNUPGHOME=$gnupg gpg --batch --quiet --yes --armor --export >"$keyfile"
  GNUPGHOME=$gnupg gpg --batch --quiet --yes --clearsign --output "$repo/InRelease" "$repo/Release"
  GNUPGHOME=$gnupg gpg --batch --quiet --yes --armor --detach-sign --output "$repo/Release.gpg" "$repo/Release"
}
