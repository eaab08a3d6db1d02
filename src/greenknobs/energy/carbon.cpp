// Carbon-intensity tables; the sources are in docs/measurement.md.
#include "greenknobs/energy/carbon.h"

#include <cctype>

#include "greenknobs/util/error.h"

namespace gk::energy {

const std::vector<CountryIntensity>& country_intensity_table() {
    // Life-cycle g CO2e/kWh of electricity generation, 2023, Ember via Our World in Data ("Carbon
    // intensity of electricity generation"), rounded to whole grams.
    static const std::vector<CountryIntensity> table = {
        {"AUS", "Australia", 549},    {"BRA", "Brazil", 98},          {"CAN", "Canada", 170},
        {"CHE", "Switzerland", 35},   {"CHN", "China", 582},          {"DEU", "Germany", 381},
        {"DNK", "Denmark", 151},      {"ESP", "Spain", 174},          {"FIN", "Finland", 79},
        {"FRA", "France", 56},        {"GBR", "United Kingdom", 238}, {"IND", "India", 713},
        {"IRL", "Ireland", 282},      {"ITA", "Italy", 331},          {"JPN", "Japan", 485},
        {"KOR", "South Korea", 432},  {"NLD", "Netherlands", 268},    {"NOR", "Norway", 30},
        {"POL", "Poland", 662},       {"SWE", "Sweden", 41},          {"USA", "United States", 369},
        {"ZAF", "South Africa", 708},
    };
    return table;
}

CarbonIntensity carbon_intensity(const std::string& country_iso_code, double override_g_per_kwh) {
    std::string iso;
    for (char c : country_iso_code) {
        iso += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    CarbonIntensity ci;
    ci.country_iso_code = iso.empty() ? "WORLD" : iso;
    if (override_g_per_kwh > 0) {
        ci.g_per_kwh = override_g_per_kwh;
        ci.source = "override (carbon_g_per_kwh)";
        return ci;
    }
    if (iso.empty() || iso == "WORLD") {
        ci.g_per_kwh = kWorldGPerKwh;
        ci.source =
            "world average 475 g/kWh (IEA, Global Energy & CO2 Status Report 2019, 2018 "
            "generation; CodeCarbon's default)";
        return ci;
    }
    std::string known;
    for (const auto& e : country_intensity_table()) {
        if (iso == e.iso3) {
            ci.g_per_kwh = e.g_per_kwh;
            ci.source = std::string(e.country) + ", 2023 (Ember via Our World in Data)";
            return ci;
        }
        known += std::string(known.empty() ? "" : " ") + e.iso3;
    }
    throw InputError(
        "country", country_iso_code,
        "unknown ISO 3166 alpha-3 code; known: " + known + " (or WORLD; or give carbon_g_per_kwh)");
}

}  // namespace gk::energy
