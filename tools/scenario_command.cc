// `chorus swarm --scenario FILE [--mode sim|real] [--seed S] [--report DIR]`.
#include "scenario_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "chorus/swarm/scenario.h"
#include "chorus/swarm/scenario_run.h"
#include "progress.h"
#include "scenario_real.h"

namespace chorus::tools {
namespace {

bool write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int run_scenario_command(const ScenarioArgs& args) {
  auto loaded = swarm::load_scenario(args.path);
  if (!loaded) {
    std::cerr << "chorus swarm: " << loaded.error().message() << "\n";
    return 2;
  }
  const swarm::Scenario& s = *loaded;
  const uint64_t seed = args.seed.value_or(s.seed);
  Progress progress(!args.json);
  Result<swarm::RunFigures> figures = invalid_argument("no mode");
  if (args.mode == "sim") {
    swarm::SimRunOptions o;
    o.seed = seed;
    const auto wall0 = std::chrono::steady_clock::now();
    uint64_t last_deliveries = 0;
    auto last_wall = wall0;
    double rate = 0;
    o.progress = [&](const swarm::SimProgress& p) {
      const auto now = std::chrono::steady_clock::now();
      const double wall = std::chrono::duration<double>(now - wall0).count();
      const double dt = std::chrono::duration<double>(now - last_wall).count();
      if (dt > 0.2) {
        rate = static_cast<double>(p.deliveries - last_deliveries) / dt;
        last_deliveries = p.deliveries;
        last_wall = now;
      }
      const double done = static_cast<double>(p.now_us) / static_cast<double>(p.end_us);
      const double eta = done > 0 ? wall / done - wall : 0;
      char line[256];
      std::snprintf(line, sizeof line,
                    "sim %.0f/%.0f s | nodes up %zu/%zu | %.0f msgs/s | dht ops %llu | %s | ETA "
                    "%.0f s",
                    static_cast<double>(p.now_us) / 1e6, static_cast<double>(p.end_us) / 1e6,
                    p.nodes_up, s.node_count, rate, static_cast<unsigned long long>(p.dht_ops_done),
                    p.phase.c_str(), eta);
      progress.update(line);
    };
    figures = swarm::run_scenario_sim(s, o);
  } else {
    figures = run_scenario_real(s, seed, progress);
  }
  progress.finish();
  if (!figures) {
    std::cerr << "chorus swarm: " << figures.error().message() << "\n";
    return 2;
  }
  const auto asserts = swarm::check_assertions(s, *figures);
  const nlohmann::json j = swarm::report_json(s, *figures, asserts);
  bool pass = true;
  for (const auto& a : asserts) pass = pass && a.pass;
  if (!args.report_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.report_dir, ec);
    const auto dir = std::filesystem::path(args.report_dir);
    if (ec || !write_file(dir / "report.json", j.dump(2) + "\n") ||
        !write_file(dir / "report.html", swarm::report_html(s, *figures, asserts))) {
      std::cerr << "chorus swarm: cannot write the report to " << args.report_dir << "\n";
      return 2;
    }
  }
  if (args.json) {
    std::cout << j.dump() << std::endl;
  } else {
    const auto& f = *figures;
    std::printf("\nscenario %s (%s mode, seed %llu): %s\n",
                s.name.empty() ? s.source.c_str() : s.name.c_str(), f.mode.c_str(),
                static_cast<unsigned long long>(seed), pass ? "PASS" : "FAIL");
    std::printf("  nodes            %zu, %llu joins, %llu leaves, %llu crashes, %llu restarts\n",
                s.node_count, static_cast<unsigned long long>(f.joins),
                static_cast<unsigned long long>(f.leaves),
                static_cast<unsigned long long>(f.crashes),
                static_cast<unsigned long long>(f.restarts));
    std::printf("  delivery ratio   %.4f (shout %llu/%llu, speak %llu/%llu, whisper %llu/%llu)\n",
                f.delivery_ratio(), static_cast<unsigned long long>(f.shout.delivered),
                static_cast<unsigned long long>(f.shout.expected),
                static_cast<unsigned long long>(f.speak.delivered),
                static_cast<unsigned long long>(f.speak.expected),
                static_cast<unsigned long long>(f.whisper.delivered),
                static_cast<unsigned long long>(f.whisper.expected));
    if (f.puts || f.gets || f.lock_attempts || f.cas_attempts || f.diffs)
      std::printf(
          "  dht              puts %llu/%llu, lookup success %.4f, locks %llu/%llu (%llu "
          "violations), cas wins %llu/%llu (%llu double wins), diffs %llu/%llu\n",
          static_cast<unsigned long long>(f.puts_ok), static_cast<unsigned long long>(f.puts),
          f.lookup_success(), static_cast<unsigned long long>(f.locks_acquired),
          static_cast<unsigned long long>(f.lock_attempts),
          static_cast<unsigned long long>(f.lock_violations),
          static_cast<unsigned long long>(f.cas_wins),
          static_cast<unsigned long long>(f.cas_attempts),
          static_cast<unsigned long long>(f.cas_versions_with_two_winners),
          static_cast<unsigned long long>(f.diffs_ok), static_cast<unsigned long long>(f.diffs));
    for (const auto& a : asserts)
      std::printf("  assert           %s %s: %g %s\n", a.name.c_str(), a.want.c_str(), a.value,
                  a.pass ? "pass" : "FAIL");
    for (const auto& n : f.notes) std::printf("  note             %s\n", n.c_str());
    std::printf("  wall time        %.1f s\n", f.wall_s);
    if (!args.report_dir.empty())
      std::printf("  report           %s/report.html (and report.json)\n", args.report_dir.c_str());
  }
  return pass ? 0 : 1;
}

}  // namespace chorus::tools
