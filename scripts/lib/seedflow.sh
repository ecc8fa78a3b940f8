# shellcheck shell=bash
# The seed's curl flow (the README's walk-through) against a running
# gateway, and its notice in Mailpit. Sourced by scripts/ci-containers.sh and
# scripts/cluster-e2e.sh; bash only. Needs curl, python3 and ffprobe.
#
#   test_video OUT [SECONDS [SIZE]]  a test video (testsrc2, tones and pink noise)
#   curlflow BASE EMAIL PASSWORD VIDEO OUTDIR
#                              login, upload, wait for done, download, ffprobe
#   mailpit_notice API EMAIL   the notice to EMAIL in Mailpit (API: http://host:8025)

# fail MESSAGE: the caller's, if it has one.
declare -F fail >/dev/null || fail() { echo "FAIL: $*" >&2; exit 1; }

json() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$@"; }

# test_video OUT [SECONDS [SIZE]]: moving pictures (H.264, 320x240 unless
# SIZE) and stereo tones with pink noise: AAC in MP4, Opus in Matroska (by
# OUT's extension).
test_video() {
  local out=$1 d=${2:-6} size=${3:-320x240} acodec=aac
  case $out in *.mkv) acodec=libopus ;; esac
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=duration=$d:size=$size:rate=25" \
    -f lavfi -i "sine=frequency=440:duration=$d:sample_rate=48000" -f lavfi -i "sine=frequency=660:duration=$d:sample_rate=48000" \
    -f lavfi -i "anoisesrc=color=pink:duration=$d:amplitude=0.2:sample_rate=48000" \
    -filter_complex '[1:a][2:a]amerge=inputs=2[st];[3:a]aformat=channel_layouts=stereo[n];[st][n]amix=inputs=2:duration=shortest[a]' \
    -map 0:v -map '[a]' -c:v libx264 -pix_fmt yuv420p -c:a "$acodec" -shortest "$out"
}

# login BASE EMAIL PASSWORD: prints a token.
login() { curl -fsS -X POST -u "$2:$3" "$1/login"; }

# wait_job BASE TOKEN JOB [SECONDS]: waits until the job is done or failed;
# prints its JSON, fails unless done.
wait_job() {
  local j st='' n=${4:-120}
  for _ in $(seq "$n"); do
    j=$(curl -fsS -H "Authorization: Bearer $2" "$1/jobs/$3") || j='{"status": "?"}'
    st=$(json "$j" status)
    if [ "$st" = "done" ] || [ "$st" = failed ]; then break; fi
    sleep 1
  done
  echo "$j"
  [ "$st" = "done" ]
}

# check_mp3 MP3 VIDEO: an MP3 as long as the video.
check_mp3() {
  local want got
  echo "5. ffprobe: $(ffprobe -v error -show_entries stream=codec_name,sample_rate,channels:format=duration -of compact=p=0 "$1" | tr '\n' ' ')"
  got=$(ffprobe -v error -select_streams a:0 -show_entries stream=codec_name -of csv=p=0 "$1")
  [ "$got" = mp3 ] || fail "the download is $got, not mp3"
  want=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$2")
  got=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$1")
  python3 -c 'import sys; w,g=map(float,sys.argv[1:]); sys.exit(abs(w-g) > max(0.5, w*0.02))' "$want" "$got" \
    || fail "the MP3 lasts $got s, the video $want s"
}

curlflow() { # BASE EMAIL PASSWORD VIDEO OUTDIR: the README's walk-through
  local base=$1 tok up job j fid
  tok=$(login "$base" "$2" "$3")
  echo "1. login $2: a token of ${#tok} bytes"
  up=$(curl -fsS -X POST -F "file=@$4" -H "Authorization: Bearer $tok" "$base/upload")
  echo "2. upload $(basename "$4"): $up"
  job=$(json "$up" job_id)
  j=$(wait_job "$base" "$tok" "$job") || fail "job $job: $j"
  echo "3. job: $j"
  fid=$(json "$j" mp3_fid)
  rm -rf "$5"; mkdir -p "$5"
  (cd "$5" && curl -fsS -OJ -H "Authorization: Bearer $tok" "$base/download?fid=$fid" \
    -w '4. download: %{http_code} %{content_type}, %{size_download} bytes, saved as %{filename_effective}\n')
  check_mp3 "$(ls "$5"/*.mp3)" "$4"
}

# mailpit_notice API EMAIL: waits up to 30 s for the notice to EMAIL.
mailpit_notice() {
  local mail=''
  for _ in $(seq 30); do
    if mail=$(curl -fsS "$1/api/v1/messages" | python3 -c '
import json, sys
for m in json.load(sys.stdin)["messages"]:
    if any(t["Address"] == sys.argv[1] for t in m["To"]) and m["Subject"] == "MP3 Download":
        print("%s -> %s: %s | %s" % (m["From"]["Address"], m["To"][0]["Address"], m["Subject"], m["Snippet"]))
        sys.exit(0)
sys.exit(1)' "$2"); then break; fi
    sleep 1
  done
  [ -n "$mail" ] || fail "no notice to $2 in Mailpit"
  echo "6. Mailpit (GET /api/v1/messages): $mail"
}
